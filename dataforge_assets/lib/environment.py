"""The one place that decides the environment: where local state lives and which warehouse is used.

Assets never read environment variables themselves; they get resources picked here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

REPO_ROOT = Path(__file__).resolve().parents[2]

WarehouseKind = Literal["duckdb", "postgres"]

# The PostgreSQL warehouse's SQLAlchemy URL; read by the resource at run time (dg.EnvVar), never logged.
POSTGRES_URL_VAR = "DATAFORGE_POSTGRES_URL"


@dataclass(frozen=True)
class Environment:
    home: Path
    warehouse: WarehouseKind

    @property
    def duckdb_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def postgres_url_set(self) -> bool:
        return bool(os.environ.get(POSTGRES_URL_VAR))

    @property
    def landing_dir(self) -> Path:
        return self.home / "landing"

    @property
    def dlt_pipelines_dir(self) -> Path:
        return self.home / "dlt"

    def resolve(self, path: str | os.PathLike[str]) -> Path:
        """Paths in YAML are relative to the data home unless absolute."""
        p = Path(os.path.expandvars(str(path))).expanduser()
        return p if p.is_absolute() else self.home / p


def current_environment() -> Environment:
    """Read the environment afresh, so tests can point DATAFORGE_HOME at a temporary folder."""
    home = Path(os.environ.get("DATAFORGE_HOME") or REPO_ROOT / ".dataforge").resolve()
    warehouse = os.environ.get("DATAFORGE_WAREHOUSE", "duckdb").strip().lower()
    if warehouse not in ("duckdb", "postgres"):
        raise ValueError(f"DATAFORGE_WAREHOUSE must be 'duckdb' or 'postgres', got {warehouse!r}")
    return Environment(home=home, warehouse=warehouse)  # type: ignore[arg-type]


def sensor_interval_seconds(default: int = 30) -> int:
    """How often the landing-folder sensors look (DATAFORGE_SENSOR_INTERVAL_SECONDS; tests shorten it)."""
    return int(os.environ.get("DATAFORGE_SENSOR_INTERVAL_SECONDS") or default)


def warehouse_lock_settings() -> dict[str, float]:
    """How long a run waits for the DuckDB writer lock (DATAFORGE_WAREHOUSE_LOCK_TIMEOUT_SECONDS, default
    2 h) and how often it logs the holder meanwhile (DATAFORGE_WAREHOUSE_LOCK_LOG_SECONDS, default 30 s)."""
    return {
        "lock_timeout_seconds": float(os.environ.get("DATAFORGE_WAREHOUSE_LOCK_TIMEOUT_SECONDS") or 7200),
        "lock_log_interval_seconds": float(os.environ.get("DATAFORGE_WAREHOUSE_LOCK_LOG_SECONDS") or 30),
    }
