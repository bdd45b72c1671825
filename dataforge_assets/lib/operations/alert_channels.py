"""Where alerts go: a Slack-compatible webhook and/or email over SMTP, each off unless configured.

Configured by environment variables through dg.EnvVar, so the UI shows the variable names, never the values.
Every text sent is redacted (lib/redaction.py); the webhook URL and the SMTP password are masked by value.
TLS is always verified (`ssl.create_default_context()`): STARTTLS or SMTPS for mail, HTTPS for webhooks;
a private relay's CA is trusted through DATAFORGE_ALERT_CA_BUNDLE, never by turning verification off.
"""

from __future__ import annotations

import json
import os
import smtplib
import ssl
import urllib.request
from email.message import EmailMessage

import dagster as dg

from dataforge_assets.lib.redaction import redact, register_secret

DEFAULT_UI_BASE_URL = "http://127.0.0.1:3000"
SEND_TIMEOUT_SECONDS = 10
SMTPS_PORT = 465
SMTP_SECURITY = ("starttls", "ssl", "none")

ENV_VARS = {
    "webhook_url": "DATAFORGE_ALERT_WEBHOOK_URL",
    "smtp_host": "DATAFORGE_ALERT_SMTP_HOST",
    "smtp_port": "DATAFORGE_ALERT_SMTP_PORT",
    "smtp_from": "DATAFORGE_ALERT_SMTP_FROM",
    "smtp_to": "DATAFORGE_ALERT_SMTP_TO",
    "smtp_user": "DATAFORGE_ALERT_SMTP_USER",
    "smtp_password": "DATAFORGE_ALERT_SMTP_PASSWORD",
    "smtp_security": "DATAFORGE_ALERT_SMTP_SECURITY",
    "ca_bundle": "DATAFORGE_ALERT_CA_BUNDLE",
    "ui_base_url": "DATAFORGE_UI_BASE_URL",
}


class AlertChannels(dg.ConfigurableResource):
    """Sends one alert text to every configured channel; returns the channels it failed on."""

    webhook_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str | None = None
    smtp_to: str | None = None  # comma-separated
    smtp_user: str | None = None
    smtp_password: str | None = None
    # starttls: upgrade the connection (the default when a login is set); ssl: SMTPS (port 465);
    # none: plain SMTP, for a local relay that takes no login. Unset: ssl on port 465, else starttls
    # with a login and none without.
    smtp_security: str | None = None
    ca_bundle: str | None = None  # PEM file of extra CAs to trust (a private relay); verification stays on
    ui_base_url: str = DEFAULT_UI_BASE_URL

    def run_url(self, run_id: str) -> str:
        return f"{self.ui_base_url.rstrip('/')}/runs/{run_id}"

    def enabled(self) -> list[str]:
        return [name for name, on in (("webhook", self.webhook_url), ("email", self.smtp_host)) if on]

    def send(self, subject: str, text: str) -> dict[str, str]:
        """Send to each enabled channel; one failing channel never stops the other. Returns errors."""
        register_secret(self.webhook_url)
        register_secret(self.smtp_password)
        subject, text = redact(subject), redact(text)
        errors = {}
        for channel, sender in (("webhook", self._post), ("email", self._mail)):
            if channel not in self.enabled():
                continue
            try:
                sender(subject, text)
            except Exception as error:  # a broken channel is reported, not raised: the other still goes
                errors[channel] = redact(f"{type(error).__name__}: {error}")
        return errors

    def tls_context(self) -> ssl.SSLContext:
        """Verifies the certificate and the host name, trusting the system CAs (and ca_bundle's)."""
        context = ssl.create_default_context()
        if self.ca_bundle:
            context.load_verify_locations(cafile=self.ca_bundle)
        return context

    def security(self) -> str:
        if self.smtp_security:
            if self.smtp_security not in SMTP_SECURITY:
                raise ValueError(
                    f"DATAFORGE_ALERT_SMTP_SECURITY must be one of {', '.join(SMTP_SECURITY)}, "
                    f"got {self.smtp_security!r}"
                )
            return self.smtp_security
        if self.smtp_port == SMTPS_PORT:
            return "ssl"
        return "starttls" if self.smtp_user else "none"

    def _post(self, subject: str, text: str) -> None:
        request = urllib.request.Request(
            self.webhook_url or "",
            data=json.dumps({"text": text}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        context = self.tls_context() if (self.webhook_url or "").startswith("https://") else None
        with urllib.request.urlopen(request, timeout=SEND_TIMEOUT_SECONDS, context=context) as response:
            response.read()

    def _mail(self, subject: str, text: str) -> None:
        recipients = [a.strip() for a in (self.smtp_to or "").split(",") if a.strip()]
        if not recipients or not self.smtp_from:
            raise ValueError(
                "email alerts need DATAFORGE_ALERT_SMTP_FROM and DATAFORGE_ALERT_SMTP_TO as well as _HOST"
            )
        message = EmailMessage()
        message["Subject"], message["From"], message["To"] = subject, self.smtp_from, ", ".join(recipients)
        message.set_content(text)
        security, host = self.security(), self.smtp_host or ""
        if security == "none" and self.smtp_user:
            raise ValueError(
                "refusing to send the SMTP password unencrypted: set DATAFORGE_ALERT_SMTP_SECURITY to "
                "starttls or ssl"
            )
        if security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                host, self.smtp_port, timeout=SEND_TIMEOUT_SECONDS, context=self.tls_context()
            )
        else:
            smtp = smtplib.SMTP(host, self.smtp_port, timeout=SEND_TIMEOUT_SECONDS)
        with smtp:
            if security == "starttls":
                smtp.starttls(context=self.tls_context())  # raises unless the server offers STARTTLS
            if self.smtp_user:
                smtp.login(self.smtp_user, self.smtp_password or "")
            smtp.send_message(message)


def alert_channels_from_env() -> AlertChannels:
    """Each field that has its variable set is bound to it (EnvVar); unset variables leave that channel off."""
    fields = {}
    for field, var in ENV_VARS.items():
        if os.environ.get(var):
            fields[field] = dg.EnvVar.int(var) if field == "smtp_port" else dg.EnvVar(var)
    return AlertChannels(**fields)
