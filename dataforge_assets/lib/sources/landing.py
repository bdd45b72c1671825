"""What is in a landing folder, by identity: a file is its name, size and content hash (sha256).

Modification times are not identity (`cp -p`, `rsync -a`, `unzip` and late re-deliveries keep old
ones); they only spare re-hashing a file whose name, size and time are as last seen. A file still
being written is never picked up: temporary names are ignored and a file whose size or time changes
between two looks is left for the next run.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

log = logging.getLogger(__name__)

# Names uploaders and editors give files they have not finished writing.
TEMPORARY_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".crdownload", ".filepart", "~")
CHUNK = 1 << 20


@dataclass(frozen=True)
class LandedFile:
    path: Path
    size: int
    mtime_ns: int

    @property
    def name(self) -> str:
        return self.path.name


def is_temporary(name: str) -> bool:
    return name.startswith(".") or name.lower().endswith(TEMPORARY_SUFFIXES)


def matches(name: str, globs: Sequence[str]) -> bool:
    """A glob matches a file's name, or a gzip file's name without `.gz` (`*.csv` takes `a.csv.gz`)."""
    plain = name[: -len(".gz")] if name.endswith(".gz") else name
    return any(fnmatch(name, g) or fnmatch(plain, g) for g in globs)


def landed_files(folder: Path, globs: Sequence[str]) -> list[LandedFile]:
    """Files of the folder matching a glob, temporary names left out, by name."""
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        if path.is_file() and not is_temporary(path.name) and matches(path.name, globs):
            stat = path.stat()
            found.append(LandedFile(path, stat.st_size, stat.st_mtime_ns))
    return found


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Identity:
    name: str
    size: int
    sha256: str

    def same_as(self, record: Mapping[str, object] | None) -> bool:
        return bool(record) and record.get("size") == self.size and record.get("sha256") == self.sha256


def unchanged_since(record: Mapping[str, object] | None, landed: LandedFile) -> bool:
    """The file is as it was when `record` was made (same size and time): no need to hash it again."""
    return bool(record) and record.get("size") == landed.size and record.get("mtime_ns") == landed.mtime_ns


def settled(files: Sequence[LandedFile], since: float, settle_seconds: float) -> list[LandedFile]:
    """The files whose size and time did not change between the first look (at `since`) and a
    second one at least `settle_seconds` later; the others are still being written.

    A writer moves a file's time with every write, so a file last written more than `settle_seconds`
    before the first look has already kept still that long: when every file is such, no wait.
    """
    if not files:
        return []
    first_look_wall = time.time_ns() - int((time.monotonic() - since) * 1e9)
    quiet_since = first_look_wall - int(settle_seconds * 1e9)
    if all(landed.mtime_ns <= quiet_since for landed in files):
        return list(files)
    wait = since + settle_seconds - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    steady = []
    for landed in files:
        try:
            stat = landed.path.stat()
        except FileNotFoundError:
            log.warning(f"file {landed.name!r} vanished while being looked at; skipped")
            continue
        if (stat.st_size, stat.st_mtime_ns) == (landed.size, landed.mtime_ns):
            steady.append(landed)
        else:
            log.warning(
                f"file {landed.name!r} is still being written ({landed.size} -> {stat.st_size} bytes); "
                "it is left for the next run"
            )
    return steady
