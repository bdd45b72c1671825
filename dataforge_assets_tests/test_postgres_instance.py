"""A Dagster instance on PostgreSQL configured as Dagster's docs write it: a plain `postgresql://` URL, or
`postgres_db:` fields. SQLAlchemy 2.1 maps plain `postgresql://` to psycopg 3, which the project ships."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from dataforge_assets_tests.services import temporary_database


def url_config(url: sa.URL) -> str:
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return f"storage:\n  postgres:\n    postgres_url: {plain}\n"


def db_config(url: sa.URL) -> str:
    return (
        "storage:\n  postgres:\n    postgres_db:\n"
        f"      hostname: {url.host}\n      port: {url.port or 5432}\n      username: {url.username}\n"
        f"      password: '{url.password or ''}'\n      db_name: {url.database}\n"
    )


@pytest.mark.postgres
@pytest.mark.parametrize("config", [url_config, db_config], ids=["postgres_url", "postgres_db"])
def test_instance_on_postgres_as_the_docs_configure_it(config, tmp_path: Path) -> None:
    with temporary_database("dataforge_instance") as url:
        home = tmp_path / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n" + config(url))

        @dg.asset
        def hello() -> int:
            return 1

        instance = dg.DagsterInstance.from_config(str(home))
        try:
            result = dg.materialize([hello], instance=instance)
            assert result.success
        finally:
            instance.dispose()
        # A second instance (another process would do the same) reads the run and its event back from
        # PostgreSQL: the storage really is the server, not a local fallback.
        again = dg.DagsterInstance.from_config(str(home))
        try:
            assert again.get_run_by_id(result.run_id).is_success
            assert again.get_latest_materialization_event(dg.AssetKey("hello")) is not None
        finally:
            again.dispose()
        engine = sa.create_engine(url)
        with engine.connect() as con:
            assert con.execute(sa.text("SELECT count(*) FROM runs")).scalar() == 1
        engine.dispose()
