"""Durations: ``"30m"``, ``"1h30m"``, ``"2 hours"``, ``"PT30M"`` to and from ``timedelta``.

Accepted forms:

- compact or spelled-out units, in any order, each at most once, optionally separated by
  spaces, commas or "and": ``"1h30m"``, ``"1h 30m"``, ``"2 hours"``, ``"1 hour and 30 minutes"``,
  ``"1.5h"``, ``"500ms"``. Units: ``w``, ``d``, ``h``, ``m``, ``s``, ``ms``, ``us`` and their
  English names (``week``, ``day``, ``hour``/``hr``, ``minute``/``min``, ``second``/``sec``,
  ``millisecond``/``msec``, ``microsecond``/``µs``);
- ISO 8601 durations with fixed-length parts: ``"PT30M"``, ``"P1DT2H"``, ``"P2W"``, ``"PT1.5S"``
  (years and months have no fixed length and are refused);
- ``int`` and ``float`` as seconds; ``timedelta`` as is.

A bare number inside a string (``"30"``) is refused: in a job file it is too easy to mean
minutes and get seconds. Digits must be ASCII ``0-9`` (``"５m"`` is refused). Job settings and
intervals are further bounded by ``MAX_DURATION`` (366 days), checked by their callers.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from cronwork.errors import DurationError, ScheduleError

__all__ = ["MAX_DURATION", "format_duration", "parse_duration", "refuse_non_ascii_digits"]

# The longest duration any job setting or interval may have. Far below timedelta.max, so that
# a slot plus any of them (or all of them added up) stays inside datetime's range for every
# date before base.LATEST (year 9000).
MAX_DURATION = timedelta(days=366)

_MICROS = {
    "w": 7 * 86_400_000_000,
    "d": 86_400_000_000,
    "h": 3_600_000_000,
    "m": 60_000_000,
    "s": 1_000_000,
    "ms": 1_000,
    "us": 1,
}

_UNIT_NAMES = {
    "w": "w",
    "wk": "w",
    "wks": "w",
    "week": "w",
    "weeks": "w",
    "d": "d",
    "day": "d",
    "days": "d",
    "h": "h",
    "hr": "h",
    "hrs": "h",
    "hour": "h",
    "hours": "h",
    "m": "m",
    "min": "m",
    "mins": "m",
    "minute": "m",
    "minutes": "m",
    "s": "s",
    "sec": "s",
    "secs": "s",
    "second": "s",
    "seconds": "s",
    "ms": "ms",
    "msec": "ms",
    "msecs": "ms",
    "millisecond": "ms",
    "milliseconds": "ms",
    "us": "us",
    "µs": "us",
    "μs": "us",
    "usec": "us",
    "usecs": "us",
    "microsecond": "us",
    "microseconds": "us",
}

_NUMBER = r"\d+(?:\.\d*)?|\.\d+"
# One "<number><unit>" part, then what may separate it from the next part.
_PART = re.compile(rf"\s*({_NUMBER})\s*([a-zµμ]+)\s*(?:,|\band\b)?", re.IGNORECASE)
_ISO = re.compile(
    r"P(?:(?P<w>[\d.,]+)W)?(?:(?P<d>[\d.,]+)D)?"
    r"(?:T(?:(?P<h>[\d.,]+)H)?(?:(?P<m>[\d.,]+)M)?(?:(?P<s>[\d.,]+)S)?)?",
    re.IGNORECASE,
)
_MAX_MICROS = timedelta.max // timedelta(microseconds=1)
_EXAMPLES = '(e.g. "30m", "1h30m", "PT30M")'


def parse_duration(spec: object, *, allow_zero: bool = False, what: str = "duration") -> timedelta:
    """Parse ``spec`` (text, seconds as int/float, or timedelta) into a positive timedelta."""
    if isinstance(spec, timedelta):
        return _checked(spec, spec, allow_zero, what)
    if isinstance(spec, bool) or not isinstance(spec, (str, int, float)):
        raise DurationError(
            f'{what} must be text such as "30m", a number of seconds or a timedelta, '
            f"got {type(spec).__name__} {spec!r}"
        )
    if isinstance(spec, (int, float)):
        if isinstance(spec, float) and not math.isfinite(spec):
            raise DurationError(f"{what} {spec!r} is not a finite number of seconds")
        return _checked(spec, _from_micros(spec, Decimal(spec) * 1_000_000, what), allow_zero, what)
    text = spec.strip()
    if not text:
        raise DurationError(f"{what} is empty; expected a duration {_EXAMPLES}")
    refuse_non_ascii_digits(text, f"{what} {_show(spec)}", DurationError)
    if text.startswith("-"):
        raise DurationError(f"{what} {_show(spec)} is negative; it must be positive")
    micros = _parse_iso(spec, text, what) if text[0] in "Pp" else _parse_units(spec, text, what)
    return _checked(spec, _from_micros(spec, micros, what), allow_zero, what)


def refuse_non_ascii_digits(
    text: str, what: str, error: type[DurationError] | type[ScheduleError] = ScheduleError
) -> None:
    """Raise ``error`` if ``text`` holds a digit other than 0-9 (such as "５" or "٣")."""
    # Python's int(), Decimal() and regex \d read them, cron fields do not: refusing them
    # everywhere keeps every schedule and duration text meaning the same to every parser.
    for char in text:
        if not char.isascii() and char.isnumeric():
            raise error(f"{what} contains the non-ASCII digit {char!r}; write digits as 0-9")


def format_duration(td: timedelta) -> str:
    """Return the compact form of ``td``: ``"1h30m"``, ``"45s"``, ``"1d2h"``, ``"250ms"``."""
    micros = td // timedelta(microseconds=1)
    if micros == 0:
        return "0s"
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    parts: list[str] = []
    for unit in ("d", "h", "m", "s", "ms", "us"):
        count, micros = divmod(micros, _MICROS[unit])
        if count and unit == "d" and count % 7 == 0:
            parts.append(f"{count // 7}w")
        elif count:
            parts.append(f"{count}{unit}")
    return sign + "".join(parts)


def _parse_units(spec: object, text: str, what: str) -> Decimal:
    total = Decimal(0)
    seen: set[str] = set()
    pos = 0
    while pos < len(text):
        match = _PART.match(text, pos)
        if match is None or match.end() == pos:
            raise _not_a_duration(spec, what, _hint(text, pos))
        number, unit_text = match.groups()
        unit = _UNIT_NAMES.get(unit_text.lower())
        if unit is None:
            raise DurationError(
                f'{what} {_show(spec)} has unknown unit "{unit_text}"; use w, d, h, m, s, ms or us'
            )
        if unit in seen:
            raise DurationError(f'{what} {_show(spec)} gives the unit "{unit_text}" twice')
        seen.add(unit)
        total += Decimal(number) * _MICROS[unit]
        pos = match.end()
    return total


def _parse_iso(spec: object, text: str, what: str) -> Decimal:
    match = _ISO.fullmatch(text)
    if match is None or text.upper() in ("P", "PT") or text.upper().endswith("T"):
        if re.fullmatch(r"P[\d.,]*Y.*|P[^T]*\d+M.*", text, re.IGNORECASE):
            raise DurationError(
                f"{what} {_show(spec)} uses years or months, which have no fixed length; "
                'use days or weeks, e.g. "P30D"'
            )
        raise _not_a_duration(spec, what)
    total = Decimal(0)
    for unit, value in match.groupdict().items():
        if value is None:
            continue
        try:
            total += Decimal(value.replace(",", ".")) * _MICROS[unit]
        except InvalidOperation:
            raise _not_a_duration(spec, what) from None
    return total


def _from_micros(spec: object, micros: Decimal, what: str) -> timedelta:
    rounded = int(micros.to_integral_value())
    if abs(rounded) > _MAX_MICROS:
        raise DurationError(f"{what} {_show(spec)} is too long (at most {timedelta.max.days} days)")
    return timedelta(microseconds=rounded)


def _checked(spec: object, td: timedelta, allow_zero: bool, what: str) -> timedelta:
    if td < timedelta(0):
        raise DurationError(f"{what} {_show(spec)} is negative; it must be positive")
    if td == timedelta(0) and not allow_zero:
        raise DurationError(f"{what} {_show(spec)} is zero; it must be positive")
    return td


def _show(spec: object) -> str:
    if isinstance(spec, timedelta):
        return format_duration(spec)
    return repr(spec) if not isinstance(spec, str) else f'"{spec}"'


def _hint(text: str, pos: int) -> str:
    rest = text[pos:].strip()
    if re.fullmatch(_NUMBER, rest):
        return f'; "{rest}" has no unit, write e.g. "{rest}s" or "{rest}m"'
    return f'; cannot read "{rest}"' if rest != text.strip() else ""


def _not_a_duration(spec: object, what: str, hint: str = "") -> DurationError:
    return DurationError(f'{what} "{spec}" is not a duration {_EXAMPLES}{hint}')
