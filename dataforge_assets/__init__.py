"""dataforge_assets: a Dagster code location where every table is a software-defined asset.

`dagster ... -m dataforge_assets` finds the location's Definitions here. (`defs` is the name of the
defs folder package, so the loader function is exposed under another name.)
"""

from dataforge_assets.definitions import load_definitions

__all__ = ["load_definitions"]
