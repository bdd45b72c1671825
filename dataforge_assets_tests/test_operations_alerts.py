"""Failure and recovery alerts, sent to a local HTTP sink (Slack-compatible webhook) and a local SMTP sink."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path

import dagster as dg
import pytest
from aiosmtpd.controller import Controller
from pytest_httpserver import HTTPServer

from dataforge_assets.lib.operations.alert_channels import AlertChannels, alert_channels_from_env
from dataforge_assets.lib.operations.alert_sensors import alert_on_recovery, alert_on_run_failure
from dataforge_assets.lib.operations.run_history import redact
from dataforge_assets_tests.conftest import Platform
from dataforge_assets_tests.demo_data import land_flights, month_sample
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
