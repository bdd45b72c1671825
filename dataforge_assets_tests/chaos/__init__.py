"""The fault-injection suite: real `dagster asset materialize` processes killed with SIGKILL at random
moments of every phase (dlt extract/normalize/load, normalized builds, checks, stats), PostgreSQL
backends terminated mid-load, concurrent writers; after each series one clean run, then the warehouse
is compared with an independent reading of the landed source files.

`make chaos` runs the long version (`python -m dataforge_assets_tests.chaos`) and writes the scoreboard
to docs/reliability.md; `test_chaos.py` runs a short one in `make test` and asserts the same invariants.
"""
