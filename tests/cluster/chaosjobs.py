"""The jobs of the chaos test (test_chaos.py), imported by the ``cronwork run`` nodes it starts.

Each execution appends lines to the file named by ``$CRONWORK_CHAOS_LOG``, opened with
O_APPEND so the lines of every node's threads land whole, one ``write`` each::

    start <job id> <slot, µs since 1970> <attempt> <run id> <pid>
    end   <job id> <slot, µs since 1970> <attempt> <run id> <pid>

The test checks what ran from these lines, not only from the store's records.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_fd: int | None = None
_lock = threading.Lock()


def _log(event: str, ctx: Any) -> None:
    global _fd
    with _lock:
        if _fd is None:
            path = os.environ["CRONWORK_CHAOS_LOG"]
            _fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    slot = (ctx.scheduled_for - _EPOCH) // timedelta(microseconds=1)
    line = f"{event} {ctx.job_id} {slot} {ctx.attempt} {ctx.run_id} {os.getpid()}\n"
    os.write(_fd, line.encode())


def fast(ctx: Any) -> None:
    """A job that only says it ran."""
    _log("start", ctx)


def slow(ctx: Any, seconds: float) -> None:
    """A job that says it began, works ``seconds``, and says it ended."""
    _log("start", ctx)
    time.sleep(seconds)
    _log("end", ctx)
