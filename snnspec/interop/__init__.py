"""Equinox, NIR and Python-module interop."""
