"""Keep the garbage collector's full passes short while a scheduler runs.

A full collection walks every tracked object in the process, and holds the GIL while it does:
with thousands of jobs registered (a Job, its schedule and its target each) a pass takes
longer than the gap between two runs, and every run due meanwhile starts that much late.
Those passes were the whole tail lateness of the dispatch benchmark (the figures are in
docs/architecture.md, "Why the hot path looks like this"). What exists when a scheduler starts
(modules, job definitions, the host application's own start-up state) is long-lived, so the
engine moves it into the permanent generation (`gc.freeze`), which later passes skip; full
passes then walk only what was created since. The last scheduler to stop moves it back
(`gc.unfreeze`), so anything of it that has become garbage is collected again. Once its
first claims are done, a scheduler freezes again (`settle`) what they loaded: a persistent
store's job definitions arrive then, not before the start.

Meanwhile the youngest generation is collected less often (YOUNG_THRESHOLD); the host's
thresholds come back with the unfreeze. A host that manages the permanent generation itself
(it called `gc.freeze` before, say for a pre-fork server) is left alone, as is a process
with the collector disabled.

A library does not retune its host's collector unasked: ``Scheduler(freeze_gc=True)`` opts in,
and ``cronwork run``, which owns its process, turns it on.
"""

from __future__ import annotations

import gc
import threading

# While a scheduler holds the freeze, the youngest generation is collected every this many
# net allocations rather than every 700 (CPython's default): every run allocates a dozen
# short-lived containers, and at thousands of runs a second young collections, each walking
# what the last one left, were a visible share of the engine's time; most of a run's
# objects are gone before 10,000 allocations have passed.
YOUNG_THRESHOLD = 10_000

_lock = threading.Lock()
_holders = 0
_ours = False
_thresholds: tuple[int, int, int] | None = None  # the host's, to restore


def hold() -> bool:
    """Freeze what exists now, unless the host manages freezing; True if this call counts."""
    global _holders, _ours, _thresholds
    with _lock:
        if _holders == 0:
            if not gc.isenabled() or gc.get_freeze_count() > 0:
                return False
            _ours = True
            young, middle, old = gc.get_threshold()
            if young < YOUNG_THRESHOLD:
                _thresholds = (young, middle, old)
                gc.set_threshold(YOUNG_THRESHOLD, middle, old)
        elif not _ours:
            return False
        _holders += 1
        gc.freeze()
        return True


def settle() -> None:
    """Freeze again what a started scheduler has since loaded for good (a holder calls this).

    A persistent store loads its job definitions at the first claims, after the start's
    freeze: garbage is collected first (one full pass, once), so only live objects go in.
    """
    with _lock:
        if _holders and _ours:
            gc.collect()
            gc.freeze()


def release() -> None:
    """Undo one successful `hold`; the last one unfreezes."""
    global _holders, _ours, _thresholds
    with _lock:
        if _holders == 0:
            return
        _holders -= 1
        if _holders == 0 and _ours:
            _ours = False
            gc.unfreeze()
            if _thresholds is not None and gc.get_threshold()[0] == YOUNG_THRESHOLD:
                gc.set_threshold(*_thresholds)  # unless the host has set its own since
            _thresholds = None
