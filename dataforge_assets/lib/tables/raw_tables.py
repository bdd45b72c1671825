"""Which raw tables the source YAMLs of a defs folder declare, so a normalized table naming an unknown
one is refused when the definitions load, not when its first run fails."""

from __future__ import annotations

from pathlib import Path

import yaml

SOURCE_COMPONENT = "SourceComponent"


def declared_raw_tables(defs_root: Path) -> set[str]:
    tables: set[str] = set()
    for path in defs_root.rglob("*.yaml"):
        try:
            documents = list(yaml.safe_load_all(path.read_text()))
        except (OSError, yaml.YAMLError):
            continue  # that file's own loader reports it
        for document in documents:
            if not isinstance(document, dict) or not str(document.get("type", "")).endswith(SOURCE_COMPONENT):
                continue
            connection = (document.get("attributes") or {}).get("connection") or {}
            tables.update(
                t["name"] for t in connection.get("tables") or [] if isinstance(t, dict) and "name" in t
            )
    return tables
