"""scd2 row hashes (`lib/sources/history.with_row_hash`) of the scaled flights, as Arrow batches.

Run as a script against a checkout's code (`PYTHONPATH=<checkout>`), like noop_build.py.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

RESULT_PREFIX = "BENCHMARK-RESULT "


def row_hash(files: list[Path], repeat: int = 3) -> dict[str, Any]:
    """Seconds to hash every row of `files` (read as text, as the files source reads them), `repeat` times."""
    import polars as pl

    import dataforge_assets
    from dataforge_assets.lib.sources.history import with_row_hash

    table = pl.concat([pl.read_csv(f, infer_schema=False) for f in files]).to_arrow()
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        hashed = with_row_hash(table)
        seconds.append(time.perf_counter() - started)
    return {
        "seconds": seconds,
        "warm_median": statistics.median(seconds),
        "rows": hashed.num_rows,
        "code": str(Path(dataforge_assets.__file__).parent.parent),
    }


if __name__ == "__main__":
    args = json.loads(sys.argv[1])
    figures = row_hash([Path(f) for f in args["files"]], int(args.get("repeat", 3)))
    print(RESULT_PREFIX + json.dumps(figures), flush=True)
