"""A canary value in every configurable secret never leaves the process: not in the logs of a real
`dagster asset materialize`, not in the event log (SQLite and PostgreSQL instances), not in the alerts the
sensors deliver to local sinks, not in what the UI serves (GraphQL of a real webserver).

The run fails on purpose with errors that would carry the secrets: the API answers 401 and echoes the
bearer token in its body, and a SQL source points at a database that does not exist.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import requests
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from dagster._serdes import serialize_value
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dataforge_assets.lib.operations.alert_channels import alert_channels_from_env
from dataforge_assets.lib.operations.alert_sensors import alert_on_run_failure
from dataforge_assets_tests.services import temporary_database
from dataforge_assets_tests.test_operations_alerts import MailSink, Sensor, _free_port
from dataforge_assets_tests.test_tls import Relay
from dataforge_assets_tests.tls import make_certificates
from dataforge_assets_tests.webserver import BIN, Webserver, _stop, _wait_until_loaded, free_port

MARK = "CANARY"
SECRETS = {
    "CANARY_TEST_API_TOKEN": "tok-CANARY-a1b2c3",
    "CANARY_TEST_SQL_PASSWORD": "sqlpw-CANARY-d4e5f6",
    "DATAFORGE_ALERT_SMTP_PASSWORD": "smtp-CANARY-7e6d5c",
    "DAGSTER_PG_PASSWORD": "dgpw-CANARY-1c2d3e",
}
WAREHOUSE_PASSWORD = "whpw-CANARY-0a9b8c"
WEBHOOK_TOKEN = "whk-CANARY-4b3a2f"

DEFINITIONS = """
import dagster as dg
from pathlib import Path

from dataforge_assets.lib.environment import current_environment
from dataforge_assets.lib.operations import with_operations
from dataforge_assets.resources import resources_for


@dg.definitions
def defs() -> dg.Definitions:
    loaded = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    platform = dg.Definitions(resources=resources_for(current_environment()), executor=dg.in_process_executor)
    return with_operations(dg.Definitions.merge(loaded, platform))
"""


def sources(api_url: str, sql_url: sa.URL) -> dict[str, str]:
    """An API source with a bearer token, a SQL source with a password, and one whose database is gone."""
    reader = sql_url.set(password=None).render_as_string()
    missing = sql_url.set(password=None, database=f"{sql_url.database}_gone").render_as_string()
    common = "retry: {max_retries: 0}"
    return {
        "api": f"""
            name: api
            connection:
              kind: rest_api
              base_url: {api_url}
              auth: {{type: bearer, token_env: CANARY_TEST_API_TOKEN}}
              paginator: {{type: page_number, page_param: page, total_path: total_pages}}
              request_retries: {{max_attempts: 1}}
              tables: [{{name: items, path: items, data_selector: data, primary_key: [origin, time_hour]}}]
            {common}""",
        "ops": f"""
            name: ops
            connection:
              kind: sql_database
              url: {reader}
              password_env: CANARY_TEST_SQL_PASSWORD
              tables: [{{name: fleet, primary_key: [id]}}]
            {common}""",
        "gone": f"""
            name: gone
            connection:
              kind: sql_database
              url: {missing}
              password_env: CANARY_TEST_SQL_PASSWORD
              tables: [{{name: vanished}}]
            {common}""",
    }


def write_project(root: Path, docs: dict[str, str]) -> Path:
    package = root / "canaryproj"
    for name, attributes in docs.items():
        folder = package / "defs" / "raw" / name
        folder.mkdir(parents=True)
        body = textwrap.indent(textwrap.dedent(attributes).strip(), "  ")
        (folder / "defs.yaml").write_text(
            f"type: dataforge_assets.lib.sources.SourceComponent\nattributes:\n{body}\n"
        )
    for folder in (package, package / "defs"):
        (folder / "__init__.py").write_text("")
    (package / "definitions.py").write_text(DEFINITIONS)
    (root / "pyproject.toml").write_text(
        '[tool.dg]\ndirectory_type = "project"\n\n[tool.dg.project]\nroot_module = "canaryproj"\n'
    )
    return package / "definitions.py"


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    yield


def api_handler(request: Request) -> Response:
    """The token expired: a 401 that echoes it back, as some APIs do."""
    token = request.headers.get("Authorization", "")
    return Response(json.dumps({"error": f"invalid token {token}", "token": token}), status=401)


def postgres_instance_home(root: Path, url: sa.URL) -> Path:
    home = root / "dagster_home_pg"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        textwrap.dedent(f"""
        telemetry: {{enabled: false}}
        storage:
          postgres:
            postgres_db:
              hostname: {url.host}
              port: {url.port or 5432}
              username: {url.username}
              password: {{env: DAGSTER_PG_PASSWORD}}
              db_name: {url.database}
              scheme: postgresql+psycopg2
        """)
    )
    return home


def materialize(definitions: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [BIN / "dagster", "asset", "materialize", "-f", str(definitions), "--select", "*"],
        cwd=definitions.parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode != 0, "the run was meant to fail"
    return done.stdout + done.stderr


def event_log_text(instance: dg.DagsterInstance) -> str:
    runs = instance.get_runs()
    assert runs
    parts = [str(run) for run in runs]
    for run in runs:
        parts += [serialize_value(entry) for entry in instance.all_logs(run.run_id)]
    return "\n".join(parts)


UI_QUERIES = [
    "{ runsOrError { ... on Runs { results { runId status runConfigYaml tags { key value } } } } }",
    """query ($runId: ID!) { logsForRun(runId: $runId) { ... on EventConnection { events {
        __typename ... on MessageEvent { message }
        ... on ExecutionStepFailureEvent { error { message stack cause { message stack } } }
        ... on MaterializationEvent { metadataEntries { label
            ... on MarkdownMetadataEntry { mdStr } ... on TextMetadataEntry { text }
            ... on JsonMetadataEntry { jsonString } } } } } } }""",
    """{ repositoriesOrError { ... on RepositoryConnection { nodes { name
        allTopLevelResourceDetails { name configuredValues { key value type } } } } } }""",
]


def ui_text(server: Webserver, run_ids: list[str]) -> str:
    replies = []
    for query in UI_QUERIES:
        for run_id in run_ids if "$runId" in query else [None]:
            reply = requests.post(
                f"{server.url}/graphql", json={"query": query, "variables": {"runId": run_id}}, timeout=60
            ).json()
            assert not reply.get("errors"), reply["errors"]
            replies.append(json.dumps(reply))
    return "\n".join(replies)


def test_canary_secrets_appear_nowhere(
    secret_env: None,
    httpserver: HTTPServer,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    with (
        temporary_database("canary_src") as source_db,
        temporary_database("canary_wh") as warehouse_db,
        temporary_database("canary_dg") as instance_db,
    ):
        engine = sa.create_engine(source_db.set(drivername="postgresql+psycopg2"))
        with engine.begin() as con:
            con.execute(sa.text("CREATE TABLE fleet (id int primary key, name text)"))
            con.execute(sa.text("INSERT INTO fleet VALUES (1, 'N10156'), (2, 'N102UW')"))
        engine.dispose()
        httpserver.expect_request("/items").respond_with_handler(api_handler)

        certs = make_certificates(tmp_path / "certs")
        sink = MailSink()
        port = _free_port()
        relay = Relay(sink, port)
        controller = Controller(
            sink,
            hostname="127.0.0.1",
            port=port,
            authenticator=relay.authenticate,
            tls_context=certs.server_context(),
            require_starttls=True,
            server_hostname="127.0.0.1",
        )
        controller.start()
        webhook_path = f"/services/T0/B0/{WEBHOOK_TOKEN}"
        httpserver.expect_request(webhook_path, method="POST").respond_with_data("ok")

        gone = f"{source_db.database}_gone"
        warehouse_url = warehouse_db.set(password=WAREHOUSE_PASSWORD).render_as_string(hide_password=False)
        definitions = write_project(tmp_path / "project", sources(httpserver.url_for("/"), source_db))
        sqlite_home = tmp_path / "dagster_home"
        sqlite_home.mkdir()
        (sqlite_home / "dagster.yaml").write_text("telemetry: {enabled: false}\n")
        alert_env = {
            "DATAFORGE_ALERT_WEBHOOK_URL": httpserver.url_for(webhook_path),
            "DATAFORGE_ALERT_SMTP_HOST": "127.0.0.1",
            "DATAFORGE_ALERT_SMTP_PORT": str(port),
            "DATAFORGE_ALERT_SMTP_FROM": "dataforge@example.test",
            "DATAFORGE_ALERT_SMTP_TO": "oncall@example.test",
            "DATAFORGE_ALERT_SMTP_USER": "dataforge",
            "DATAFORGE_ALERT_CA_BUNDLE": str(certs.ca),
        }
        env = {
            **os.environ,
            **alert_env,
            "PYTHONPATH": f"{tmp_path / 'project'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
            "DATAFORGE_HOME": str(tmp_path / "data"),
            "DATAFORGE_WAREHOUSE": "postgres",
            "DATAFORGE_POSTGRES_URL": warehouse_url,
        }
        os.environ.update(alert_env)
        try:
            logs, alerts, stores = [], [], []
            for home in (sqlite_home, postgres_instance_home(tmp_path, instance_db)):
                with dg.DagsterInstance.from_config(str(home)) as instance:
                    channels = alert_channels_from_env()
                    sensor = Sensor(alert_on_run_failure, instance, channels)
                    logs.append(materialize(definitions, {**env, "DAGSTER_HOME": str(home)}))
                    sensor.tick()  # the failure alert goes to the webhook and over SMTP (STARTTLS)
                    stores.append(event_log_text(instance))
            posted = [r.get_data(as_text=True) for r, _ in httpserver.log if r.path == webhook_path]
            alerts += posted + [m.as_string() for _, m in sink.messages]
            assert len(posted) == 2 and len(sink.messages) == 2 and relay.logins

            port_ui = free_port()
            ui_log = tmp_path / "webserver.log"
            with open(ui_log, "wb") as out:
                proc = subprocess.Popen(
                    [
                        BIN / "dagster-webserver",
                        "-h",
                        "127.0.0.1",
                        "-p",
                        str(port_ui),
                        "-f",
                        str(definitions),
                    ],
                    cwd=definitions.parents[1],
                    env={**env, "DAGSTER_HOME": str(sqlite_home)},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            server = Webserver(f"http://127.0.0.1:{port_ui}", port_ui, sqlite_home, tmp_path / "data", ui_log)
            try:
                _wait_until_loaded(server, proc)
                with dg.DagsterInstance.from_config(str(sqlite_home)) as instance:
                    run_ids = [run.run_id for run in instance.get_runs()]
                ui = ui_text(server, run_ids)
            finally:
                _stop(proc)
            logs.append(ui_log.read_text())
        finally:
            controller.stop()
            for name in alert_env:
                os.environ.pop(name, None)
        logs.append("".join(capfd.readouterr()))

    # Kept beside the test's files, to read what was searched when this test fails.
    (tmp_path / "searched.json").write_text(
        json.dumps({"logs": logs, "stores": stores, "alerts": alerts, "ui": ui})
    )
    # The failures really happened, and say why (without the secrets).
    for store in stores:
        assert "refused the credentials (HTTP 401 on /items)" in store
        assert f'{gone}\\" does not exist' in store  # the vanished database is named
    assert all("401 Client Error" in alert and gone in alert for alert in alerts)
    assert (
        '"label": "dagster/table_name", "text": "raw.fleet"' in ui
    )  # the SQL source with the password loaded
    everything = {"logs": logs, "event log (SQLite, PostgreSQL)": stores, "alerts": alerts, "ui": [ui]}
    values = [*SECRETS.values(), WAREHOUSE_PASSWORD, WEBHOOK_TOKEN]
    leaks = {
        (where, value)
        for where, texts in everything.items()
        for text in texts
        for value in values
        if value in text
    }
    assert not leaks, leaks
    assert not [where for where, texts in everything.items() for text in texts if MARK in text]
