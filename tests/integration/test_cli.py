"""The user CLI through the real services that `likeness up` starts (one instance per module)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from likeness.cli.common import EXIT_FORBIDDEN, EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_UNAVAILABLE, EXIT_USAGE
from likeness.cli.main import app
from tests.integration.test_graceful_shutdown import free_port
from tests.integration.test_up import interrupt, start_up

pytestmark = pytest.mark.e2e


@dataclass
class Stack:
    state_dir: Path
    environment: dict[str, str]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("cli")
    state_dir = root / "state"
    ports = {name: free_port() for name in ("identity", "assets", "generator")}
    environment = {key: value for key, value in os.environ.items() if not key.startswith("LIKENESS_")}
    environment.update({f"LIKENESS_{name.upper()}_PORT": str(port) for name, port in ports.items()})
    environment["LIKENESS_STATE_DIR"] = str(state_dir)
    process = start_up(state_dir, environment, root / "up.log")
    try:
        yield Stack(state_dir, environment)
    finally:
        assert interrupt(process) == 0


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> object:
        return json.loads(self.stdout)


def likeness(stack: Stack, *args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
    """Run the CLI in-process with the stack's environment (and nothing else from ours)."""
    runner = CliRunner()
    environment = {key: None for key in os.environ if key.startswith("LIKENESS_")}
    environment.update(
        {key: value for key, value in stack.environment.items() if key.startswith("LIKENESS_")}
    )
    environment.update(env or {})
    result = runner.invoke(app, list(args), env=environment, input=input, catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


def test_brand_create_use_show_and_json(stack: Stack) -> None:
    created = likeness(stack, "--json", "brand", "create", "cli-brand", "--name", "CLI Brand")
    assert created.exit_code == 0, created.stderr
    assert created.json() == created.json() | {"brand_id": "cli-brand", "display_name": "CLI Brand"}

    shown = likeness(stack, "--json", "brand", "show")  # the brand just created is now the current one
    assert shown.exit_code == 0, shown.stderr
    assert shown.json()["brand_id"] == "cli-brand"  # type: ignore[index]

    people = likeness(stack, "brand", "show")
    assert "CLI Brand" in people.stdout

    again = likeness(stack, "brand", "create", "cli-brand")
    assert again.exit_code == EXIT_REFUSED
    assert again.stderr.count("\n") == 1 and "ALREADY_EXISTS" in again.stderr


def test_unknown_brand_is_not_found_with_one_line(stack: Stack) -> None:
    result = likeness(stack, "brand", "use", "no-such-brand")
    assert result.exit_code == EXIT_NOT_FOUND
    assert result.stderr.startswith("error: NOT_FOUND") and result.stderr.count("\n") == 1


def test_bad_arguments_and_missing_brand_exit_with_usage(stack: Stack, tmp_path: Path) -> None:
    bad = likeness(stack, "brand", "create", "Not A Slug")
    assert bad.exit_code == EXIT_USAGE and "lower-case slug" in bad.stderr
    bad = likeness(stack, "brand", "create", "long-name", "--name", "x" * 201)
    assert bad.exit_code == EXIT_USAGE and "INVALID_ARGUMENT" in bad.stderr

    fresh = likeness(stack, "--state-dir", str(tmp_path), "--brand", "cli-brand", "brand", "show")
    assert fresh.exit_code == EXIT_FORBIDDEN and "no token" in fresh.stderr

    (tmp_path / "jwt-key.json").write_bytes((stack.state_dir / "jwt-key.json").read_bytes())
    no_brand = likeness(stack, "--state-dir", str(tmp_path), "brand", "show")
    assert no_brand.exit_code == EXIT_USAGE and "no brand" in no_brand.stderr


def test_a_foreign_token_is_refused(stack: Stack) -> None:
    result = likeness(stack, "--brand", "cli-brand", "brand", "show", env={"LIKENESS_TOKEN": "not-a-jwt"})
    assert result.exit_code == EXIT_FORBIDDEN and "UNAUTHENTICATED" in result.stderr


def test_unreachable_services_say_so(stack: Stack) -> None:
    result = likeness(
        stack,
        "--brand",
        "cli-brand",
        "brand",
        "show",
        env={"LIKENESS_ASSETS_TARGET": f"127.0.0.1:{free_port()}"},
    )
    assert result.exit_code == EXIT_UNAVAILABLE
    assert "UNAVAILABLE" in result.stderr and "likeness up" in result.stderr


def test_audit_verify_and_list(stack: Stack) -> None:
    assert likeness(stack, "brand", "create", "audited-brand").exit_code == 0
    verified = likeness(stack, "--json", "audit", "verify")
    assert verified.exit_code == 0, verified.stderr
    report = verified.json()
    assert report["ok"] is True and int(report["events_checked"]) >= 1  # type: ignore[index]

    listed = likeness(stack, "--json", "audit", "list")
    actions = [event["action"] for event in listed.json()]  # type: ignore[union-attr]
    assert actions[:2] == ["brand.create", "audit.verify"]
    assert "brand.create" in likeness(stack, "audit", "list").stdout
