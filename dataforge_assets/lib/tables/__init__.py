"""Tables declared in YAML: a normalized table (typed columns + pandera contract) or a stats table (SQL)."""

from dataforge_assets.lib.tables.normalized_component import NormalizedTableComponent
from dataforge_assets.lib.tables.stats_component import StatsTableComponent

__all__ = ["NormalizedTableComponent", "StatsTableComponent"]
