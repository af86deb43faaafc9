"""ModelSpec -> GraphPlan: indices, timing, shapes, schedule, resource estimates."""
