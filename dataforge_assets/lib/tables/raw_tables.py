"""Which raw tables the source YAMLs of a defs folder declare, so a normalized table naming an unknown
one is refused when the definitions load, not when its first run fails."""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

SOURCE_COMPONENT = "SourceComponent"
# libyaml's parser when installed (PyYAML's wheels have it): ~10x the pure-Python one.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def declared_raw_tables(defs_root: Path) -> set[str]:
    # Every normalized table asks; the files are parsed once per process unless one of them changed.
    files = tuple(
        (path, path.stat().st_mtime_ns, path.stat().st_size) for path in sorted(defs_root.rglob("*.yaml"))
    )
    return set(_declared(files))


@functools.cache
def _declared(files: tuple[tuple[Path, int, int], ...]) -> frozenset[str]:
    tables: set[str] = set()
    for path, _, _ in files:
        try:
            text = path.read_text()
            documents = list(yaml.load_all(text, Loader=LOADER)) if SOURCE_COMPONENT in text else []
        except (OSError, yaml.YAMLError):
            continue  # that file's own loader reports it
        for document in documents:
            if not isinstance(document, dict) or not str(document.get("type", "")).endswith(SOURCE_COMPONENT):
                continue
            connection = (document.get("attributes") or {}).get("connection") or {}
            tables.update(
                t["name"] for t in connection.get("tables") or [] if isinstance(t, dict) and "name" in t
            )
    return frozenset(tables)
