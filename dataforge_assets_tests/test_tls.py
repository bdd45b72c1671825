"""TLS is verified everywhere: SMTP alerts (STARTTLS and SMTPS), HTTPS webhooks and HTTPS sources, against
local servers whose certificate is signed by a throw-away CA that is, or is not, trusted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from pytest_httpserver import HTTPServer

from dataforge_assets.lib.operations.alert_channels import AlertChannels
from dataforge_assets_tests.conftest import Platform
from dataforge_assets_tests.source_yaml import failure_message, load_source, materialize
from dataforge_assets_tests.test_operations_alerts import MailSink, _free_port
from dataforge_assets_tests.test_source_rest_api_hostile import ROWS
from dataforge_assets_tests.tls import Certificates, make_certificates

PASSWORD = "smtp-pa55word-canary"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


class Relay:
    def __init__(self, sink: MailSink, port: int) -> None:
        self.sink, self.port, self.logins = sink, port, []

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        self.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=True)


@pytest.fixture(params=["starttls", "ssl"])
def relay(request: pytest.FixtureRequest, certs: Certificates) -> Iterator[tuple[str, Relay]]:
    """An SMTP relay that needs a login over TLS: STARTTLS on a plain port, or SMTPS (TLS from the start)."""
    sink, port = MailSink(), _free_port()
    relay = Relay(sink, port)
    tls = {"tls_context": certs.server_context(), "require_starttls": True, "auth_require_tls": True}
    if request.param == "ssl":  # aiosmtpd cannot tell implicit TLS apart: the whole session is TLS anyway
        tls = {"ssl_context": certs.server_context(), "auth_require_tls": False}
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=port,
        authenticator=relay.authenticate,
        server_hostname="127.0.0.1",
        **tls,
    )
    controller.start()
    try:
        yield request.param, relay
    finally:
        controller.stop()


def mail_channel(relay: Relay, security: str, ca_bundle: Path | None) -> AlertChannels:
    return AlertChannels(
        smtp_host="127.0.0.1",
        smtp_port=relay.port,
        smtp_from="dataforge@example.test",
        smtp_to="oncall@example.test",
        smtp_user="dataforge",
        smtp_password=PASSWORD,
        smtp_security=security,
        ca_bundle=str(ca_bundle) if ca_bundle else None,
    )


def test_smtp_login_only_over_a_verified_tls_connection(
    relay: tuple[str, Relay], certs: Certificates
) -> None:
    security, server = relay
    # The system CAs do not know the relay's CA: the certificate is refused, nothing is sent.
    errors = mail_channel(server, security, None).send("subject", "body")
    assert "CERTIFICATE_VERIFY_FAILED" in errors["email"] and PASSWORD not in errors["email"]
    assert server.sink.messages == [] and server.logins == []

    # Trusting the relay's CA (DATAFORGE_ALERT_CA_BUNDLE): delivered, the login went over TLS.
    assert mail_channel(server, security, certs.ca).send("subject", "body") == {}
    assert len(server.sink.messages) == 1 and server.logins == [(b"dataforge", PASSWORD.encode())]


def test_smtp_password_is_never_sent_in_plain_text(relay: tuple[str, Relay], certs: Certificates) -> None:
    _, server = relay
    errors = mail_channel(server, "none", certs.ca).send("subject", "body")
    assert "refusing to send the SMTP password unencrypted" in errors["email"]
    assert server.logins == []


@pytest.fixture
def https_server(certs: Certificates) -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=certs.server_context())
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()


def test_https_webhook_is_verified(https_server: HTTPServer, certs: Certificates) -> None:
    https_server.expect_request("/hook/T0k3n", method="POST").respond_with_data("ok")
    url = https_server.url_for("/hook/T0k3n")
    assert url.startswith("https://")
    errors = AlertChannels(webhook_url=url).send("subject", "body")
    assert "CERTIFICATE_VERIFY_FAILED" in errors["webhook"] and "T0k3n" not in errors["webhook"]
    assert AlertChannels(webhook_url=url, ca_bundle=str(certs.ca)).send("subject", "body") == {}
    assert [json.loads(r.get_data())["text"] for r, _ in https_server.log] == ["body"]


def test_https_source_is_verified_and_trusts_a_private_ca_by_env_var(
    platform: Platform,
    https_server: HTTPServer,
    certs: Certificates,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    https_server.expect_request("/items").respond_with_json({"data": ROWS})
    yaml = f"""
    type: dataforge_assets.lib.sources.SourceComponent
    attributes:
      name: api
      connection:
        kind: rest_api
        base_url: {https_server.url_for("/")}
        paginator: {{type: link_header}}
        request_retries: {{max_attempts: 1}}
        tables: [{{name: items, path: items, data_selector: data, primary_key: [origin, time_hour]}}]
      retry: {{max_retries: 0}}
    """
    defs = load_source(tmp_path, yaml)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    failed = materialize(defs, platform.instance, raise_on_error=False)
    assert "TLS certificate verification failed" in failure_message(failed)
    assert not https_server.log  # the TLS handshake failed: no request was answered

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certs.ca))
    materialize(defs, platform.instance)
    assert platform.count("raw.items") == len(ROWS)
