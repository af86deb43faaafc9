"""GraphPlan -> StatefulModel -> runs: compile, the model, params files."""
