"""Backends: one module per target, each with one verb, `render`."""
