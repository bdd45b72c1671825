"""Deploy configuration, validated as far as this machine allows: the production instance config loads
with Dagster's own schema, and the Helm values name our code location and mirror that instance."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config
from dagster_postgres.utils import pg_config

from dataforge_assets.lib.environment import REPO_ROOT

POSTGRES_YAML = REPO_ROOT / "deploy" / "postgres" / "dagster.yaml"
HELM_VALUES = REPO_ROOT / "deploy" / "helm" / "values.yaml"


def test_postgres_instance_config_is_valid_and_reads_secrets_from_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in {
        "DAGSTER_PG_HOST": "db.internal",
        "DAGSTER_PG_PORT": "6543",
        "DAGSTER_PG_USER": "dagster",
        "DAGSTER_PG_PASSWORD": "s3cret",
        "DAGSTER_PG_DB": "dagster",
    }.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "dagster.yaml").symlink_to(POSTGRES_YAML)
    config, _ = dagster_instance_config(str(tmp_path))
    storage = process_config(pg_config(), config["storage"]["postgres"])
    assert storage.success, storage.errors
    db = storage.value["postgres_db"]
    assert (db["hostname"], db["port"], db["password"]) == ("db.internal", 6543, "s3cret")
    assert "s3cret" not in POSTGRES_YAML.read_text()
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    # No pool serializes writers: a slot held by a killed run would block them all (docs/operations.md).
    assert "pools" not in config["concurrency"]
    assert config["run_retries"]["enabled"] and config["run_monitoring"]["enabled"]
    assert config["run_monitoring"]["free_slots_after_run_end_seconds"] > 0


def test_a_missing_connection_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in (
        "DAGSTER_PG_HOST",
        "DAGSTER_PG_PORT",
        "DAGSTER_PG_USER",
        "DAGSTER_PG_PASSWORD",
        "DAGSTER_PG_DB",
    ):
        monkeypatch.setenv(key, "x")
    monkeypatch.delenv("DAGSTER_PG_HOST")
    (tmp_path / "dagster.yaml").symlink_to(POSTGRES_YAML)
    config, _ = dagster_instance_config(str(tmp_path))
    storage = process_config(pg_config(), config["storage"]["postgres"])
    assert not storage.success
    assert "DAGSTER_PG_HOST" in " ".join(e.message for e in storage.errors)


def test_helm_values_name_our_code_location_and_mirror_the_instance() -> None:
    values = yaml.safe_load(HELM_VALUES.read_text())
    instance = yaml.safe_load(POSTGRES_YAML.read_text())
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["dagster"]
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", project["module_name"]]
    assert deployment["name"].replace("-", "_") == project["code_location_name"]
    assert {"name": "DATAFORGE_WAREHOUSE", "value": "postgres"} in deployment["env"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["postgresql"]["enabled"] is False and values["global"]["postgresqlSecretName"]
    daemon = values["dagsterDaemon"]
    queue = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert queue["maxConcurrentRuns"] == instance["concurrency"]["runs"]["max_concurrent_runs"]
    assert daemon["runRetries"]["maxRetries"] == instance["run_retries"]["max_retries"]
    assert daemon["runMonitoring"]["enabled"] is instance["run_monitoring"]["enabled"] is True
    assert "concurrency" not in values.get("additionalInstanceConfig", {})
    # Secrets come from Kubernetes secrets, never from the values file.
    assert "postgresqlPassword" not in values["postgresql"]
