"""Where alerts go: a Slack-compatible webhook and/or email over SMTP, each off unless configured.

Configured by environment variables through dg.EnvVar, so the UI shows the variable names, never the values.
"""

from __future__ import annotations

import json
import os
import smtplib
import urllib.request
from email.message import EmailMessage

import dagster as dg

DEFAULT_UI_BASE_URL = "http://127.0.0.1:3000"
SEND_TIMEOUT_SECONDS = 10

ENV_VARS = {
    "webhook_url": "DATAFORGE_ALERT_WEBHOOK_URL",
    "smtp_host": "DATAFORGE_ALERT_SMTP_HOST",
    "smtp_port": "DATAFORGE_ALERT_SMTP_PORT",
    "smtp_from": "DATAFORGE_ALERT_SMTP_FROM",
    "smtp_to": "DATAFORGE_ALERT_SMTP_TO",
    "smtp_user": "DATAFORGE_ALERT_SMTP_USER",
    "smtp_password": "DATAFORGE_ALERT_SMTP_PASSWORD",
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
    ui_base_url: str = DEFAULT_UI_BASE_URL

    def run_url(self, run_id: str) -> str:
        return f"{self.ui_base_url.rstrip('/')}/runs/{run_id}"

    def enabled(self) -> list[str]:
        return [name for name, on in (("webhook", self.webhook_url), ("email", self.smtp_host)) if on]

    def send(self, subject: str, text: str) -> dict[str, str]:
        """Send to each enabled channel; one failing channel never stops the other. Returns errors."""
        errors = {}
        for channel, sender in (("webhook", self._post), ("email", self._mail)):
            if channel not in self.enabled():
                continue
            try:
                sender(subject, text)
            except Exception as error:  # a broken channel is reported, not raised: the other still goes
                errors[channel] = f"{type(error).__name__}: {error}"
        return errors

    def _post(self, subject: str, text: str) -> None:
        request = urllib.request.Request(
            self.webhook_url or "",
            data=json.dumps({"text": text}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=SEND_TIMEOUT_SECONDS) as response:
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
        with smtplib.SMTP(self.smtp_host or "", self.smtp_port, timeout=SEND_TIMEOUT_SECONDS) as smtp:
            if self.smtp_user:
                smtp.starttls()
                smtp.login(self.smtp_user, self.smtp_password or "")
            smtp.send_message(message)


def alert_channels_from_env() -> AlertChannels:
    """Each field that has its variable set is bound to it (EnvVar); unset variables leave that channel off."""
    fields = {}
    for field, var in ENV_VARS.items():
        if os.environ.get(var):
            fields[field] = dg.EnvVar.int(var) if field == "smtp_port" else dg.EnvVar(var)
    return AlertChannels(**fields)
