"""The CLI's help: flags show no value type (they take none); options that take a value keep theirs."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from likeness.cli.main import app


@pytest.mark.parametrize("command", [[], ["generate"], ["job", "watch"], ["character", "create"]])
def test_help_shows_no_type_beside_flags(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "140"}, terminal_width=140)
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    assert "--help" in result.output


def test_options_that_take_a_value_keep_their_type() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "140"}, terminal_width=140)
    brand = next(line for line in result.output.splitlines() if "--brand" in line)
    assert "<str>" in brand
