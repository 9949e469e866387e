"""Finished runs packed into bytes, for stores that keep their history in memory.

Finished runs are history: written once, rarely read. Kept as Run objects (slotted, so
garbage-collected containers of 18 references each), a few seconds of history at thousands
of runs per second made every full collection of the garbage collector walk millions of
references, and those pauses were the whole tail lateness of the dispatch benchmark. Packed
into bytes, in dicts whose keys and values are all atomic, the collector never tracks them:
CPython does not track a dict until a trackable value goes in. (Tuples of atomics are
untracked too, but only at the next collection, and every tuple inserted makes its dict
tracked again, so each full collection would still visit every entry.) The figures are in
docs/architecture.md, "Why the hot path looks like this".

A record is a fixed header (slot and finish instants in microseconds, attempt), read without
unpacking the rest for sorting, retention and last_finished, then the other fields
marshalled, instants as integer microseconds since `rows.EPOCH`. Instants come back in UTC,
as from the SQL stores. A run that does not pack (a naive datetime in a test) is kept as is.
"""

from __future__ import annotations

import marshal
import struct
from datetime import datetime, timedelta

from cronwork.copiers import run_of
from cronwork.runs import Run, RunStatus
from cronwork.stores.rows import EPOCH, from_micros

Record = bytes | Run

_MICRO = timedelta(microseconds=1)
_NONE = -(2**63)
_HEAD = struct.Struct("<qqi")  # scheduled_for, finished_at (or _NONE), attempt
_SAME = True  # in place of an instant: the same object as another field (see pack)
_STATUS = {s.value: s for s in RunStatus}


def pack(run: Run) -> Record:
    """``run`` as an atomic bytes record that the garbage collector ignores."""
    # Instants become microseconds since the epoch, written out rather than through
    # rows.to_micros: this is the path of every finished run, and the five calls were a
    # large share of its cost. Two instants are usually the very objects of two others,
    # and are marked so (_SAME) instead of converted: a claimed run is due at its slot, and
    # a run that did not wait for a place was queued when it started.
    epoch, micro = EPOCH, _MICRO
    try:
        slot, finished = run.scheduled_for, run.finished_at
        created, queued, started, lease, due = (
            run.created_at,
            run.queued_at,
            run.started_at,
            run.lease_until,
            run.due_at,
        )
        queued_at: int | bool | None
        if queued is None or queued is started:
            queued_at = None if queued is None else _SAME
        else:
            queued_at = (queued - epoch) // micro
        header = _HEAD.pack(
            (slot - epoch) // micro,
            _NONE if finished is None else (finished - epoch) // micro,
            run.attempt,
        )
        body = marshal.dumps(
            (
                run.status._value_,
                run.node,
                None if created is None else (created - epoch) // micro,
                queued_at,
                None if started is None else (started - epoch) // micro,
                None if lease is None else (lease - epoch) // micro,
                run.exit_code,
                run.output,
                run.error,
                None if due is None else _SAME if due is slot else (due - epoch) // micro,
                run.trigger,
                run.cancel_requested,
                run.waited_for,
            )
        )
    except (TypeError, ValueError, OverflowError, AttributeError):
        return run
    return header + body


def unpack(run_id: str, job_id: str, record: Record) -> Run:
    """The Run of a record made by ``pack``."""
    if isinstance(record, Run):
        return record
    slot, finished, attempt = _HEAD.unpack_from(record)
    (
        status,
        node,
        created_at,
        queued_at,
        started_at,
        lease_until,
        exit_code,
        output,
        error,
        due_at,
        trigger,
        cancel_requested,
        waited_for,
    ) = marshal.loads(record[_HEAD.size :])
    scheduled_for = from_micros(slot)
    started = from_micros(started_at)
    return run_of(
        id=run_id,
        job_id=job_id,
        scheduled_for=scheduled_for,
        attempt=attempt,
        status=_STATUS[status],
        node=node,
        created_at=from_micros(created_at),
        queued_at=started if queued_at is _SAME else from_micros(queued_at),
        started_at=started,
        finished_at=None if finished == _NONE else from_micros(finished),
        lease_until=from_micros(lease_until),
        exit_code=exit_code,
        output=output,
        error=error,
        due_at=scheduled_for if due_at is _SAME else from_micros(due_at),
        trigger=trigger,
        cancel_requested=cancel_requested,
        waited_for=waited_for,
    )


def head(record: Record) -> tuple[datetime, datetime | None, int]:
    """(scheduled_for, finished_at, attempt) of a record, without unpacking the rest."""
    if isinstance(record, Run):
        return record.scheduled_for, record.finished_at, record.attempt
    slot, finished, attempt = _HEAD.unpack_from(record)
    return from_micros(slot), None if finished == _NONE else from_micros(finished), attempt
