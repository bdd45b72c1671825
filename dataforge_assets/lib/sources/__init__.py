"""Source component: one YAML file declares a source; this turns it into dlt-loaded raw assets."""

from dataforge_assets.lib.sources.component import SourceComponent

__all__ = ["SourceComponent"]
