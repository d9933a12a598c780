"""The deployment files agree with the code they run: every LinkFlow command in
docker-compose.yml parses with the CLI's own parser, every LINKFLOW_* variable the compose
file and the Helm chart set is one LinkFlow reads, and the image holds every package.
(deploy/check.sh validates the files themselves with the compose loader and Helm.)"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from linkflow.cli.main import build_parser
from linkflow.environment import ENVIRONMENT

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose" / "docker-compose.yml"
CHART = ROOT / "deploy" / "helm" / "linkflow"


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


def _linkflow_services() -> dict[str, dict[str, Any]]:
    services = _compose()["services"]
    return {
        name: spec for name, spec in services.items() if "linkflow" in str(spec.get("image", ""))
    }


def test_the_compose_file_runs_the_whole_runtime() -> None:
    services = _linkflow_services()
    commands = {name: spec["command"][:2] for name, spec in services.items()}
    assert commands == {
        "runtime": ["up", "--foreground"],
        "worker": ["worker", "--queue"],
        "worker-http": ["worker", "--queue"],
        "api": ["api", "serve"],
    }
    assert set(_compose()["services"]) == {*services, "kafka", "postgres"}


@pytest.mark.parametrize("service", sorted(_linkflow_services()))
def test_compose_commands_parse_with_the_cli(service: str) -> None:
    command = _linkflow_services()[service]["command"]
    args = build_parser().parse_args(command)
    assert callable(args.func)


def test_deployment_files_set_only_variables_linkflow_reads() -> None:
    declared = {v.name for v in ENVIRONMENT}
    files = [COMPOSE, *sorted(CHART.rglob("*.yaml")), *sorted(CHART.rglob("*.tpl"))]
    used = {
        name
        for path in files
        for name in re.findall(r"\b(LINKFLOW_[A-Z_]+)\b", path.read_text(encoding="utf-8"))
    }
    # LINKFLOW_IMAGE picks the compose file's image; it is Compose's, not LinkFlow's.
    assert used - {"LINKFLOW_IMAGE"} <= declared, sorted(used - declared)
    assert {"LINKFLOW_KAFKA_BOOTSTRAP", "LINKFLOW_KAFKA_SASL_PASSWORD"} <= used


def test_the_image_holds_every_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = config["tool"]["setuptools"]["packages"]["find"]["include"]
    dockerfile = (ROOT / "deploy" / "compose" / "Dockerfile").read_text(encoding="utf-8")
    copied = set(re.findall(r"^COPY (\S+) ", dockerfile, flags=re.MULTILINE))
    tops = {p.split(".")[0].rstrip("*") for p in packages}
    assert tops <= copied, sorted(tops - copied)
    assert {"schemas", "topics"} <= copied  # read from the checkout at run time
