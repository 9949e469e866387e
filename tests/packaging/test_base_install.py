"""`pip install cronwork`, with no extra, gives a working `cronwork` command."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

# Imports the command makes, then the distributions they come from, as one JSON document.
_PROBE = """
import json, sys
from importlib import metadata
before = {name.partition(".")[0] for name in sys.modules}  # what the interpreter loads by itself
from cronwork.cli import app
from typer.testing import CliRunner
result = CliRunner().invoke(app, ["next", "*/5 * * * *", "-n", "1"])
assert result.exit_code == 0, result.output
tops = {name.partition(".")[0] for name in sys.modules}
tops -= before | set(sys.stdlib_module_names) | {"cronwork", "typer"}
owners = metadata.packages_distributions()
print(json.dumps(sorted({d for t in tops for d in owners.get(t, [])})))
"""


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _closure(names: set[str]) -> set[str]:
    """The distributions ``names`` pull in, themselves included, as installed here."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [_name(r) for r in requires if "extra ==" not in r]
    return seen


def test_the_command_needs_only_the_base_dependencies() -> None:
    base = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    allowed = _closure({_name(r) for r in base if "sys_platform == 'win32'" not in r})
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True
    ).stdout
    used = {_name(d) for d in json.loads(out)} | {"typer"}
    assert used - allowed == set(), "the command imports packages outside the base install"
