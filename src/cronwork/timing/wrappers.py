"""Schedules around schedules: bounds (start, end) and reproducible jitter.

A wrapper's ``source`` is its base's: stores persist bounds and jitter as separate fields.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from cronwork.errors import ScheduleError
from cronwork.timing.base import Schedule, require_aware
from cronwork.timing.durations import format_duration
from cronwork.timing.zones import format_instant, localize

__all__ = ["Bounded", "Jittered"]

_TICK = timedelta(microseconds=1)


class Bounded(Schedule):
    """Fires as ``base`` does, but never before ``start`` nor after ``end`` (both inclusive).

    Naive bounds are wall times in the base's zone.
    """

    base: Schedule
    start: datetime | None
    end: datetime | None

    def __init__(
        self, schedule: Schedule, start: datetime | None = None, end: datetime | None = None
    ) -> None:
        if not isinstance(schedule, Schedule):
            raise ScheduleError(f"Bounded wraps a Schedule, got {type(schedule).__name__}")
        self.base = schedule
        self.tz = schedule.tz
        self.source = schedule.source
        self.start = self._bound(start, "start")
        self.end = self._bound(end, "end")
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ScheduleError(
                f"start {format_instant(self.start, self.tz)} is after "
                f"end {format_instant(self.end, self.tz)}"
            )

    def _bound(self, value: datetime | None, what: str) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime) and value.tzinfo is None:
            value = localize(value, self.tz)
        require_aware(value, what)
        return value.astimezone(UTC)

    def next_after(self, moment: datetime) -> datetime | None:
        """Return the base's next fire instant after ``moment`` that lies within the bounds."""
        start = self.start
        if start is None:
            require_aware(moment)
        else:
            # Comparing with the (aware) start raises TypeError for a naive moment or no
            # datetime at all; only then does require_aware run, to say which. Claims call
            # this for every slot.
            try:
                before = moment < start
            except TypeError:
                require_aware(moment)
                raise
            if before:
                moment = start - _TICK
        result = self.base.next_after(moment)
        if result is None or (self.end is not None and result > self.end):
            return None
        return result

    def describe(self) -> str:
        """Return the base's description with e.g. ``, from 2026-01-01 to 2026-02-01``."""
        text = self.base.describe()
        if self.start is not None:
            text += f", from {format_instant(self.start, self.tz, date_only_at_midnight=True)}"
        if self.end is not None:
            word = " to" if self.start is not None else ", until"
            text += f"{word} {format_instant(self.end, self.tz, date_only_at_midnight=True)}"
        return text

    def __repr__(self) -> str:
        return f"<Bounded {self.base!r} start={self.start} end={self.end}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Bounded):
            return NotImplemented
        return (self.base, self.start, self.end) == (other.base, other.start, other.end)

    def __hash__(self) -> int:
        return hash(("Bounded", self.base, self.start, self.end))


class Jittered(Schedule):
    """Fires each base slot ``s`` at ``s + d``, where ``0 <= d < jitter`` is fixed by a hash.

    ``d`` is derived from sha256 of ``seed`` and the slot's UTC ISO form, so every node and
    every restart agrees on it, and jobs with different seeds spread over the window.
    """

    base: Schedule
    jitter: timedelta
    seed: str

    def __init__(self, schedule: Schedule, jitter: timedelta, seed: str) -> None:
        if not isinstance(schedule, Schedule):
            raise ScheduleError(f"Jittered wraps a Schedule, got {type(schedule).__name__}")
        if not isinstance(jitter, timedelta) or jitter <= timedelta(0):
            raise ScheduleError(f"jitter must be a positive timedelta, got {jitter!r}")
        if not isinstance(seed, str):
            raise ScheduleError(f"jitter seed must be a str, got {type(seed).__name__}")
        self.base = schedule
        self.tz = schedule.tz
        self.source = schedule.source
        self.jitter = jitter
        self.seed = seed

    def offset(self, slot: datetime) -> timedelta:
        """Return the delay in ``[0, jitter)`` applied to the base slot ``slot``."""
        key = f"{self.seed}\x00{slot.astimezone(UTC).isoformat()}".encode()
        number = int.from_bytes(hashlib.sha256(key).digest()[:8], "big")
        return timedelta(microseconds=number % (self.jitter // _TICK))

    def next_after(self, moment: datetime) -> datetime | None:
        """Return the earliest jittered slot strictly after ``moment``."""
        require_aware(moment)
        # A slot up to one jitter before the moment may still fire after it, and a later slot
        # may fire before an earlier one, so scan until the slots pass the best candidate.
        best: datetime | None = None
        try:
            slot = self.base.next_after(moment - self.jitter)
        except OverflowError:
            slot = self.base.next_after(moment)
        while slot is not None and (best is None or slot < best):
            try:
                fire = slot.astimezone(UTC) + self.offset(slot)
            except OverflowError:
                break
            if fire > moment and (best is None or fire < best):
                best = fire
            slot = self.base.next_after(slot)
        return best

    def describe(self) -> str:
        """Return the base's description with e.g. ``, with up to 30s jitter``."""
        return f"{self.base.describe()}, with up to {format_duration(self.jitter)} jitter"

    def __repr__(self) -> str:
        return f"<Jittered {self.base!r} jitter={format_duration(self.jitter)} seed={self.seed!r}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Jittered):
            return NotImplemented
        return (self.base, self.jitter, self.seed) == (other.base, other.jitter, other.seed)

    def __hash__(self) -> int:
        return hash(("Jittered", self.base, self.jitter, self.seed))
