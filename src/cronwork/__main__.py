"""``python -m cronwork``: the same as the ``cronwork`` command."""

import os
import sys


def drop_script_folder() -> None:
    """Remove the current folder that ``python -m`` put first on sys.path.

    The ``cronwork`` console script never has it there; ``python -m cronwork`` must behave the
    same, or a ``sqlite3.py`` in the working folder replaces the standard library's.
    """
    if sys.flags.safe_path or not sys.path:
        return
    if sys.path[0] in ("", os.getcwd()):
        del sys.path[0]


# Before anything else is imported: `python -m` put the working folder first on sys.path,
# where a sqlite3.py, typer.py or rich.py would replace the real module (the console script
# has no such entry), and importing cronwork.cli imports Typer. So this stays here rather
# than in cronwork.cli. The commands that import call targets append the folder they need.
drop_script_folder()

from cronwork.cli import main  # noqa: E402

main()
