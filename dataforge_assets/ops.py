"""The operator's command after a crash: `python -m dataforge_assets.ops status|heal` (docs/operations.md).

status: lists stuck runs, the writer lock, pool slots held by finished or dead runs, half-done loads.
        Exit code 0 when all is well, 1 when `heal` has something to do, 2 when only re-runs are needed.
heal:   fails dead runs (run retries and alerts then fire), frees their slots, removes stale lock info.
"""

from __future__ import annotations

import argparse
import sys

import dagster as dg

from dataforge_assets.lib.environment import current_environment
from dataforge_assets.lib.operations.stuck_state import heal, inspect


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dataforge-ops", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["status", "heal"])
    args = parser.parse_args(argv)
    env = current_environment()
    with dg.DagsterInstance.get() as instance:
        if args.command == "heal":
            done = heal(instance, env)
            print("\n".join(done) if done else "nothing to heal")
        findings = inspect(instance, env)
        print("\n".join(findings.lines()))
        if findings.needs_heal:
            print("-> run `python -m dataforge_assets.ops heal`")
            return 1
        if findings.half_done_loads:
            print("-> re-run the assets named above; their loads resume or are redone")
            return 2
        return 0


if __name__ == "__main__":
    sys.exit(main())
