"""Heavy libraries (polars, pandera, pyarrow, duckdb, SQLAlchemy) imported on first use, not at import.

Every CLI call, sensor tick, webserver reload and run process loads the definitions, and none of them
needs a data-frame library to know what the assets are: `pl = lazy_module("polars")` gives a module
object that imports polars the first time one of its attributes is read (in an asset's body).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule(ModuleType):
    """Stands in for the module `name` until an attribute is read; then each attribute is cached here."""

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):  # introspection (copy, pickle, dagster's loaders) imports nothing
            raise AttributeError(attribute)
        value = getattr(importlib.import_module(self.__name__), attribute)
        setattr(self, attribute, value)
        return value


def lazy_module(name: str) -> Any:
    """The module `name`, imported when first used (typed as Any: annotate with the real module under
    TYPE_CHECKING where types matter)."""
    return LazyModule(name)
