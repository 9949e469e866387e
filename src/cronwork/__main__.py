"""``python -m cronwork``: the same as the ``cronwork`` command."""

from cronwork.cli import main

main()
