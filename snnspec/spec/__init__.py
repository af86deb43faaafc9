"""Text -> ModelSpec: document loaders, the spec models, overrides, dump, schema.

Imports no JAX.
"""
