"""Time zones: resolve names to ZoneInfo and turn local wall times into instants."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronwork.errors import ScheduleError

__all__ = ["format_instant", "local_zone", "localize", "resolve_zone"]

_UTC_ZONE = ZoneInfo("UTC")


def resolve_zone(tz: str | tzinfo | None) -> ZoneInfo:
    """Return the ZoneInfo for an IANA name or ZoneInfo; None means the local zone."""
    if tz is None:
        return local_zone()
    if isinstance(tz, ZoneInfo):
        return tz
    if tz is UTC:
        return _UTC_ZONE
    if isinstance(tz, str):
        zone = _zone_or_none(tz.strip())
        if zone is None:
            raise ScheduleError(
                f'unknown time zone "{tz}"; use an IANA name such as "Europe/Berlin" or "UTC"'
            )
        return zone
    # A fixed offset or pytz zone has no name a store could persist and reload.
    raise ScheduleError(
        f"time zone must be an IANA name or a zoneinfo.ZoneInfo, got {type(tz).__name__} {tz!r}"
    )


def local_zone() -> ZoneInfo:
    """Return this machine's zone: the TZ variable, then /etc/localtime, then UTC."""
    env = os.environ.get("TZ", "").strip().lstrip(":")
    if env:
        zone = _zone_or_none(env)
        if zone is not None:
            return zone
    localtime = Path("/etc/localtime")
    try:
        target = str(localtime.resolve()) if localtime.is_symlink() else ""
    except OSError:
        target = ""
    # The symlink points into a zoneinfo tree, e.g. /usr/share/zoneinfo/Europe/Berlin.
    if "zoneinfo/" in target:
        zone = _zone_or_none(target.split("zoneinfo/", 1)[1])
        if zone is not None:
            return zone
    try:
        name = Path("/etc/timezone").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        name = ""
    return (_zone_or_none(name) if name else None) or _UTC_ZONE


def localize(naive: datetime, tz: ZoneInfo) -> datetime:
    """Return the instant (in UTC) of the wall time ``naive`` in ``tz``, the way cron would.

    A wall time skipped by a spring-forward change maps to the instant of the jump (cron runs
    it right after the jump); a wall time repeated by a fall-back change maps to its first
    occurrence, unless ``naive.fold`` is 1.
    """
    instant = naive.replace(tzinfo=tz).astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) == naive.replace(tzinfo=None):
        return instant
    # In a gap fold=0 applies the offset from before the jump, landing after the jump, and
    # fold=1 the offset after it, landing before: the jump lies between the two.
    low, high = sorted(naive.replace(tzinfo=tz, fold=f).astimezone(UTC) for f in (0, 1))
    wall = naive.replace(tzinfo=None, fold=0)
    step = timedelta(microseconds=1)
    while high - low > step:
        middle = low + (high - low) / 2
        if middle.astimezone(tz).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return high


def _zone_or_none(name: str) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError, UnicodeError):
        return None


def format_instant(moment: datetime, tz: ZoneInfo, *, date_only_at_midnight: bool = False) -> str:
    """Return ``moment`` as wall time in ``tz`` for people: ``2026-12-01 10:00 CET``."""
    local = moment.astimezone(tz)
    if date_only_at_midnight and local.time() == datetime.min.time():
        return f"{local:%Y-%m-%d}"
    text = f"{local:%Y-%m-%d %H:%M}"
    if local.second or local.microsecond:
        text += f":{local:%S}" + (f".{local:%f}" if local.microsecond else "")
    return f"{text} {local:%Z}"
