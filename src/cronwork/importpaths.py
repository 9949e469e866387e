"""Which folders on sys.path are the user's, and whether one of their modules is hidden.

The command line (``cronwork.cli.importpaths``) appends the job file's folder and the
current folder to sys.path, after everything installed, so a ``json.py`` or ``sqlite3.py``
lying there never replaces the real module. A target whose module has the name of an
installed one would then silently be the installed one, so ``import_target`` asks
:func:`shadowing` first and fails with a clear message. This module only keeps the list and
answers; it never changes sys.path.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

# The folders the command line appended, in the order they were added.
_user_folders: list[str] = []


def note_user_folder(folder: str) -> None:
    """Remember ``folder`` (absolute) as one the user's modules are imported from."""
    if folder not in _user_folders:
        _user_folders.append(folder)


def shadowing(module: str) -> str | None:
    """Why ``module`` would not be imported from the user's folder that holds it, or None.

    Only the top-level name matters: ``yaml.py`` beside the job file cannot be imported while
    PyYAML is installed, and neither can ``yaml/tasks.py``.
    """
    from pathlib import Path

    top = module.partition(".")[0]
    for folder in _user_folders:
        mine = _module_file(Path(folder), top)
        if mine is None:
            continue
        found = _installed_origin(top)
        if found is None or _is_within(found, folder):
            return None
        kind = "standard library module" if top in sys.stdlib_module_names else "installed module"
        return (
            f"{mine} cannot be imported: the name {top!r} is taken by the {kind} {found}; "
            f"rename {mine.name}"
        )
    return None


def _module_file(folder: Path, name: str) -> Path | None:
    single = folder / f"{name}.py"
    if single.is_file():
        return single
    package = folder / name
    if package.is_dir() and any(package.glob("*.py")):
        return package
    return None


def _installed_origin(name: str) -> str | None:
    loaded = sys.modules.get(name)
    try:
        spec = loaded.__spec__ if loaded is not None else importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.origin not in (None, "built-in", "frozen", "namespace"):
        return str(spec.origin)
    locations = list(spec.submodule_search_locations or ())
    if locations:
        return str(locations[0])
    return f"({spec.origin or 'built in'})"


def _is_within(path: str, folder: str) -> bool:
    from pathlib import Path

    try:
        return Path(path).resolve().is_relative_to(folder)
    except OSError:
        return False
