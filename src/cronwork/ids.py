"""The job-id rule and its message, one for every face: the API, job files and triggers."""

from __future__ import annotations

import re
from typing import TypeGuard

from cronwork.errors import JobError

# \Z, not $: $ also matches before a trailing newline, and "backup\n" is not an id.
JOB_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:@/-]{0,199}\Z")
JOB_ID_RULE = "1-200 letters, digits and _ . : @ / -, starting with a letter, digit or _"


def is_job_id(value: object) -> TypeGuard[str]:
    """True when ``value`` is a valid job id."""
    return isinstance(value, str) and JOB_ID.match(value) is not None


def invalid_job_id(value: object, where: str) -> str:
    """The message for ``value``, given as ``where`` (e.g. ``"depends_on"``), not being an id."""
    return f"{where} {value!r} is invalid: not a valid job id ({JOB_ID_RULE})"


def check_job_id(
    value: object, where: str = "job id", *, job_id: str | None = None, field: str = "id"
) -> str:
    """Return ``value`` if it is a valid job id, else raise JobError naming ``where``.

    ``job_id`` and ``field`` say which job and field the id was given for when it is not the
    job's own id (one of its ``depends_on``, say).
    """
    if is_job_id(value):
        return value
    raise JobError(invalid_job_id(value, where), job_id=job_id, field=field, value=value)
