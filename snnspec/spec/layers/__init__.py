"""Layer specs: one module per layer family (pydantic models, no JAX)."""
