"""``python -m cronwork``: the same as the ``cronwork`` command."""

from cronwork.importpaths import drop_script_folder

# Before anything else is imported: `python -m` put the working folder first on sys.path,
# where a sqlite3.py or rich.py would replace the real module (the console script has no
# such entry). The commands that import call targets append the folder they need.
drop_script_folder()

from cronwork.cli import main  # noqa: E402

main()
