"""Reusable building blocks: component types, the warehouse resource, metadata helpers."""

from dataforge_assets.lib.redaction import install_log_redaction

# Every log record of the process (Dagster's, dlt's, ours) is redacted before any handler sees it.
install_log_redaction()
