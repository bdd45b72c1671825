"""Reusable building blocks: component types, the warehouse resource, metadata helpers."""
