"""The `dlt` resource: dagster-dlt's DagsterDltResource, imported only when a run loads something.

Importing dagster-dlt imports dlt (about a third of the definitions' load time); a resource object
must exist when the definitions load, so this stand-in defers the import to `run`.
"""

from __future__ import annotations

from typing import Any

import dagster as dg


class DltRunner(dg.ConfigurableResource):
    """Runs a dlt pipeline for an asset as dagster-dlt does (same arguments, same events)."""

    def run(self, **kwargs: Any) -> Any:
        from dagster_dlt import DagsterDltResource

        return DagsterDltResource().run(**kwargs)
