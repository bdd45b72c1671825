"""Start a YAML table: `python -m dataforge_assets.scaffold normalized <name> [--raw-table T]` or
`python -m dataforge_assets.scaffold stats <name>` writes defs/<layer>/<name>/defs.yaml with comments."""

from __future__ import annotations

import argparse
from pathlib import Path

from dataforge_assets.lib.sources.spec import TABLE_NAME
from dataforge_assets.lib.tables.scaffold import normalized_yaml, stats_yaml, write_new

DEFS = Path(__file__).parent / "defs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dataforge_assets.scaffold", description=__doc__)
    parser.add_argument("layer", choices=["normalized", "stats"])
    parser.add_argument("name", help="the table's name: lower-case letters, digits and _")
    parser.add_argument("--raw-table", help="normalized only: the raw table it reads (default: the name)")
    parser.add_argument("--defs", type=Path, default=DEFS, help=f"the defs folder (default: {DEFS})")
    args = parser.parse_args(argv)
    if not TABLE_NAME.fullmatch(args.name):
        parser.error(f"name {args.name!r} must be lower-case letters, digits and _, starting with a letter")
    text = normalized_yaml(args.name, args.raw_table) if args.layer == "normalized" else stats_yaml(args.name)
    try:
        written = write_new(args.defs / args.layer / args.name, text)
    except FileExistsError as error:
        parser.error(str(error))
    print(f"wrote {written}: fill in the columns, then `dagster definitions validate -m dataforge_assets`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
