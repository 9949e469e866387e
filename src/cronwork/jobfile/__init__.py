"""Job files: TOML and YAML with one schema, validated whole before anything changes.

A job file has a ``scheduler`` table (store URL, ``max_running``, ``timezone``, ``log_level``)
and a list of ``jobs``. The package has four parts:

- ``sources``: reads TOML or YAML and tells the line of every key;
- ``schema``: the keys a job file has and the kind of value each takes;
- ``check``: turns the data into a ``JobFile``, or raises ``JobFileError`` listing every
  problem as ``file:line: job "id": message``;
- ``sync``: writes a ``JobFile`` into a store (``sync_job_file``) or says what that would
  change (``plan_sync``).

So a file with any error changes nothing.
"""

from __future__ import annotations

from cronwork.errors import JobFileError
from cronwork.jobfile.check import (
    JobFile,
    Settings,
    check_job_table,
    load_job_file,
    origin_of,
    parse_job_file,
)
from cronwork.jobfile.schema import JOB_KEYS, SCHEDULER_KEYS
from cronwork.jobfile.sync import SyncReport, plan_sync, sync_job_file

__all__ = [
    "JOB_KEYS",
    "SCHEDULER_KEYS",
    "JobFile",
    "JobFileError",
    "Settings",
    "SyncReport",
    "check_job_table",
    "load_job_file",
    "origin_of",
    "parse_job_file",
    "plan_sync",
    "sync_job_file",
]
