"""Build and run folders: what made them, their manifests, the environment they record."""
