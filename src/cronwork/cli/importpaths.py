"""The command line puts the user's folders on sys.path, after everything installed.

``cronwork run jobs.toml`` imports ``call = "tasks:hello"`` from the job file's folder and
``cronwork add --call`` from the current folder. Those folders go at the end of sys.path, so
a ``json.py`` lying there is never imported in place of the real module; the library is told
which folders are the user's (see cronwork.importpaths) so a target named like an installed
module fails with a clear message. Only the command line, which owns its process, changes
sys.path.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cronwork.importpaths import note_user_folder


def append_user_folder(folder: str | os.PathLike[str]) -> str:
    """Put ``folder`` last on sys.path (once) and remember it as the user's; return it."""
    text = str(Path(folder).resolve())
    note_user_folder(text)
    if text not in sys.path:
        sys.path.append(text)
    return text


def add_import_path(path: str | os.PathLike[str]) -> str:
    """Put the job file's folder last on sys.path, so ``call`` targets import from beside it.

    So ``call = "tasks:hello"`` imports ``tasks.py`` beside the job file, from wherever
    ``cronwork run`` was started; being last, a ``json.py`` there never replaces an installed
    module (a target named like one is refused, see cronwork.importpaths). Returns the folder.
    """
    return append_user_folder(Path(path).resolve().parent)


def add_target_folders(file: Path | None) -> None:
    """Let call targets import from the job file's folder, then from the current one.

    Both go after the installed modules on sys.path, so a sqlite3.py lying there never
    replaces the real one.
    """
    if file is not None:
        add_import_path(file)
    append_user_folder(os.getcwd())
