"""The `connection:` block of a source YAML: one model per source kind, chosen by `kind:`."""

from typing import Annotated

import dagster as dg
from pydantic import Field, RootModel

from dataforge_assets.lib.sources.files import FilesConnection
from dataforge_assets.lib.sources.rest_api import RestApiConnection
from dataforge_assets.lib.sources.sql_database import SqlDatabaseConnection

Connection = FilesConnection | RestApiConnection | SqlDatabaseConnection


class ConnectionYaml(RootModel[Annotated[Connection, Field(discriminator="kind")]]):
    """`kind:` picks the model, so an error names the field of that kind and lists the allowed kinds.

    Plain pydantic (not Dagster's derived YAML model), so the kinds may use discriminated unions too.
    """


def resolve_connection(context: dg.ResolutionContext, value: ConnectionYaml) -> Connection:
    return value.root
