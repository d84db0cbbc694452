"""pyproject lists packages by hand (the services map into likeness.<service>): the list must be complete,
or a wheel silently lacks modules or migrations."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_directory_with_code_or_sql_is_a_listed_package() -> None:
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(tool["packages"])
    found = set()
    for package, directory in tool["package-dir"].items():
        base = ROOT / directory
        for path in base.rglob("*"):
            if path.suffix in (".py", ".sql") and "__pycache__" not in path.parts:
                relative = path.parent.relative_to(base)
                found.add(".".join((package, *relative.parts)))
    assert found - listed == set(), "directories with modules or SQL missing from [tool.setuptools] packages"
    assert listed - found == set(), "packages listed that have no modules"
