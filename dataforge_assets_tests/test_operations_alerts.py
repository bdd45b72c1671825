"""Failure and recovery alerts, sent to a local HTTP sink (Slack-compatible webhook) and a local SMTP sink."""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from aiosmtpd.controller import Controller
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.test_utils import freeze_time
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon.freshness import FreshnessDaemon
from pytest_httpserver import HTTPServer

from dataforge_assets.lib.environment import REPO_ROOT
from dataforge_assets.lib.operations.alert_channels import AlertChannels, alert_channels_from_env
from dataforge_assets.lib.operations.alert_sensors import alert_on_recovery, alert_on_run_failure
from dataforge_assets.lib.operations.asset_alerts import alert_on_blocking_check, alert_on_freshness
from dataforge_assets.lib.operations.run_history import redact
from dataforge_assets.lib.partitions import range_tags
from dataforge_assets_tests.conftest import Platform
from dataforge_assets_tests.demo_data import land_flights, land_reference, month_sample
from dataforge_assets_tests.failure_injection import FlakyDlt, source_with_retry

WEBHOOK_PATH = "/services/T000/B000/s3cr3tToken"
UI = "http://dagster.example.test:3000"


class MailSink:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(
            (list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=policy.default))
        )
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mail() -> Iterator[tuple[MailSink, int]]:
    sink, port = MailSink(), _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


@pytest.fixture
def channels(httpserver: HTTPServer, mail: tuple[MailSink, int]) -> AlertChannels:
    httpserver.expect_request(WEBHOOK_PATH, method="POST").respond_with_data("ok")
    return AlertChannels(
        webhook_url=httpserver.url_for(WEBHOOK_PATH),
        smtp_host="127.0.0.1",
        smtp_port=mail[1],
        smtp_from="dataforge@example.test",
        smtp_to="oncall@example.test, data@example.test",
        ui_base_url=UI,
    )


def _posted(httpserver: HTTPServer) -> list[str]:
    return [json.loads(request.get_data())["text"] for request, _ in httpserver.log]


class Sensor:
    """A run status sensor ticked against the real instance, its cursor carried like the daemon does."""

    def __init__(self, sensor: dg.SensorDefinition, instance: dg.DagsterInstance, alerts: AlertChannels):
        self.sensor, self.instance, self.alerts, self.cursor = sensor, instance, alerts, None
        self.tick()  # the first tick only places the cursor at "now"

    def tick(self) -> None:
        with dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources={"alerts": self.alerts}
        ) as ctx:
            self.cursor = self.sensor.evaluate_tick(ctx).cursor


def test_failure_then_recovery_alerts_name_run_assets_error_and_link(
    platform: Platform, channels: AlertChannels, httpserver: HTTPServer, mail, tmp_path: Path
) -> None:
    sink, _ = mail
    failure = Sensor(alert_on_run_failure, platform.instance, channels)
    recovery = Sensor(alert_on_recovery, platform.instance, channels)
    land_flights(platform.env, 1, month_sample(1, 20))
    source = source_with_retry(tmp_path / "project", "flights", max_retries=0, delay_seconds=0)
    resources = platform.definitions().resources

    def load(fail: bool) -> dg.ExecuteInProcessResult:
        dlt = FlakyDlt(counter_file=str(tmp_path / f"count-{fail}"), fail_times=99 if fail else 0)
        return dg.materialize(
            source.assets,
            resources={**resources, "dlt": dlt},
            instance=platform.instance,
            raise_on_error=False,
            tags=range_tags(),
        )

    failed = load(fail=True)
    assert not failed.success
    failure.tick()
    recovery.tick()

    (text,) = _posted(httpserver)
    assert "FAILED" in text and failed.run_id in text
    assert "Failed assets: raw/flights" in text
    assert "ConnectionError: injected outage: cannot reach postgresql://***@warehouse.internal/dw" in text
    assert f"{UI}/runs/{failed.run_id}" in text
    assert "hunter2" not in text and "s3cr3tToken" not in text  # no secrets in messages

    ((recipients, email),) = sink.messages
    assert recipients == ["oncall@example.test", "data@example.test"]
    assert "run failed" in email["Subject"] and email["From"] == "dataforge@example.test"
    assert email.get_content().replace("\r\n", "\n").strip() == text

    recovered = load(fail=False)
    assert recovered.success
    failure.tick()
    recovery.tick()
    assert len(_posted(httpserver)) == 2
    text = _posted(httpserver)[1]
    assert "RECOVERED" in text and recovered.run_id in text and f"after run {failed.run_id} failed" in text
    assert f"{UI}/runs/{recovered.run_id}" in text and "raw/flights" in text
    assert "recovered" in sink.messages[1][1]["Subject"]

    # A success after a success is no recovery: nothing more is sent.
    assert load(fail=False).success
    recovery.tick()
    assert len(_posted(httpserver)) == 2 and len(sink.messages) == 2


def test_channels_come_from_env_vars_and_stay_off_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "WEBHOOK_URL",
        "SMTP_HOST",
        "SMTP_PORT",
        "SMTP_FROM",
        "SMTP_TO",
        "SMTP_USER",
        "SMTP_PASSWORD",
    ):
        monkeypatch.delenv(f"DATAFORGE_ALERT_{var}", raising=False)
    monkeypatch.delenv("DATAFORGE_UI_BASE_URL", raising=False)
    off = alert_channels_from_env()
    assert off.enabled() == [] and off.send("s", "t") == {}
    assert off.run_url("abc") == "http://127.0.0.1:3000/runs/abc"

    monkeypatch.setenv("DATAFORGE_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/hook/secret")
    monkeypatch.setenv("DATAFORGE_ALERT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("DATAFORGE_ALERT_SMTP_PORT", "2525")
    channels = alert_channels_from_env()
    assert channels.enabled() == ["webhook", "email"]
    # Bound to the variables, not their values: the UI shows the variable names only.
    shown = channels.get_resource_definition().config_schema.as_field().default_value
    assert shown["webhook_url"] == {"env": "DATAFORGE_ALERT_WEBHOOK_URL"} and "secret" not in str(shown)
    with dg.build_resources({"alerts": channels}) as resolved:
        assert resolved.alerts.webhook_url == "http://127.0.0.1:9/hook/secret"
        assert resolved.alerts.smtp_port == 2525


def test_a_broken_channel_does_not_stop_the_other(httpserver: HTTPServer, mail) -> None:
    sink, port = mail
    channels = AlertChannels(
        webhook_url=f"http://127.0.0.1:{_free_port()}/nobody-listens",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_from="dataforge@example.test",
        smtp_to="oncall@example.test",
    )
    errors = channels.send("subject", "body")
    assert set(errors) == {"webhook"} and "Connection refused" in errors["webhook"]
    assert len(sink.messages) == 1


def test_redact_hides_credentials() -> None:
    assert redact("postgresql://user:pw@host/db token=abc123 ok") == "postgresql://***@host/db token=*** ok"


class EventSensor(Sensor):
    """A sensor over the event log, ticked with the real definitions (it looks up which checks block)."""

    def __init__(self, sensor: dg.SensorDefinition, platform: Platform, alerts: AlertChannels):
        self.defs = platform.definitions()
        super().__init__(sensor, platform.instance, alerts)

    def tick(self) -> None:
        with dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            resources={"alerts": self.alerts},
            definitions=self.defs,
        ) as ctx:
            self.cursor = self.sensor.evaluate_tick(ctx).cursor


def evaluate_freshness(instance: dg.DagsterInstance) -> None:
    """One iteration of Dagster's own freshness daemon over the real code location, in process."""
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="dataforge_assets.definitions", working_directory=str(REPO_ROOT)),
        location_name="dataforge_assets",
    )
    with WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin)) as workspace:
        list(FreshnessDaemon().run_iteration(workspace))


def test_a_stale_source_alerts_once_and_recovers_once(
    platform: Platform, channels: AlertChannels, httpserver: HTTPServer, mail
) -> None:
    sink, _ = mail
    sensor = EventSensor(alert_on_freshness, platform, channels)
    land_flights(platform.env, 1, month_sample(1, 10))
    platform.materialize("raw/flights")
    evaluate_freshness(platform.instance)
    sensor.tick()
    assert not [t for t in _posted(httpserver) if "raw/flights" in t]  # fresh: nothing to say

    # flights' policy (defs/raw/flights/defs.yaml, max_lag_minutes: 1500) is broken 26 hours on.
    with freeze_time(dt.datetime.now(dt.UTC) + dt.timedelta(hours=26)):
        evaluate_freshness(platform.instance)
        sensor.tick()
        evaluate_freshness(platform.instance)  # still stale: no second alert
        sensor.tick()
        stale = [t for t in _posted(httpserver) if "raw/flights" in t]
        assert len(stale) == 1 and "raw/flights is stale" in stale[0], _posted(httpserver)
        assert sum("freshness of raw/flights" in m["Subject"] for _, m in sink.messages) == 1

        land_flights(platform.env, 2, month_sample(2, 10))
        platform.materialize("raw/flights")
        evaluate_freshness(platform.instance)
        sensor.tick()
        evaluate_freshness(platform.instance)
        sensor.tick()
    texts = [t for t in _posted(httpserver) if "raw/flights" in t]
    assert len(texts) == 2 and "raw/flights is fresh again" in texts[1], texts
    assert sum("recovered: freshness of raw/flights" in m["Subject"] for _, m in sink.messages) == 1


def test_a_failed_blocking_check_alerts_once_and_recovers_once(
    platform: Platform, channels: AlertChannels, httpserver: HTTPServer, mail
) -> None:
    sink, _ = mail
    sensor = EventSensor(alert_on_blocking_check, platform, channels)
    land_reference(platform.env)
    platform.materialize("raw/airlines, normalized/airlines")
    sensor.tick()
    assert _posted(httpserver) == []  # the checks passed

    # A row appears in normalized.airlines that no raw row accounts for: reconciliation (blocking) fails.
    with duckdb.connect(str(platform.env.duckdb_path)) as con:
        con.execute("INSERT INTO normalized.airlines SELECT * FROM normalized.airlines LIMIT 1")
    check = dg.AssetCheckKey(dg.AssetKey(["normalized", "airlines"]), "reconciliation")

    def run_check() -> bool:
        defs = platform.definitions()
        result = dg.materialize(
            [*defs.assets, *defs.asset_checks],
            selection=dg.AssetSelection.checks(check),
            resources=defs.resources,
            instance=platform.instance,
            raise_on_error=False,
            tags=range_tags(),
        )
        return all(e.passed for e in result.get_asset_check_evaluations())

    assert not run_check() and not run_check()  # failing twice: one alert
    sensor.tick()
    (text,) = _posted(httpserver)
    assert "Blocking check reconciliation on normalized/airlines failed" in text, text
    assert "1 row(s) unaccounted for" in text
    assert len(sink.messages) == 1 and "FAILED" in sink.messages[0][1]["Subject"]

    with duckdb.connect(str(platform.env.duckdb_path)) as con:
        con.execute(
            "DELETE FROM normalized.airlines WHERE rowid = (SELECT max(rowid) FROM normalized.airlines)"
        )
    assert run_check() and run_check()
    sensor.tick()
    assert len(_posted(httpserver)) == 2 and "passes again" in _posted(httpserver)[1]
    assert len(sink.messages) == 2 and "recovered" in sink.messages[1][1]["Subject"]
