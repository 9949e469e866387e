"""Cron next-fire speed: cronwork side by side with cronsim, croniter and APScheduler 3.

Run with ``.venv/bin/python benchmarks/timing.py``. Prints microseconds per successive next
fire time, parse time, the ratio peer/cronwork per case and the geometric mean of the ratios,
and checks that cronwork and cronsim produce identical sequences for every case.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from apscheduler.triggers.cron import CronTrigger
from croniter import croniter
from cronsim import CronSim

from cronwork.timing.cron import CronSchedule

EXPRESSIONS = [
    "*/5 * * * *",
    "0 9 * * MON-FRI",
    "0 0 29 2 *",
    "0 0 L * *",
    "15 3 * * 5#2",
    "30 2 * * *",
    "0 */2 * * *",
]
ZONES = ["UTC", "Europe/Berlin"]
START = (2024, 1, 1, 0, 0)
TARGET_SECONDS = 0.2
CHECK_COUNT = 200
PEERS = ["cronsim", "croniter", "apscheduler"]

# An iterator factory per library: make(expr, tz) returns a function giving the next fire.
Maker = Callable[[str, ZoneInfo], Callable[[], datetime | None]]


def cronwork_maker(expr: str, tz: ZoneInfo) -> Callable[[], datetime | None]:
    schedule = CronSchedule(expr, tz)
    state = [datetime(*START, tzinfo=tz)]

    def step() -> datetime | None:
        nxt = schedule.next_after(state[0])
        if nxt is not None:
            state[0] = nxt
        return nxt

    return step


def cronsim_maker(expr: str, tz: ZoneInfo) -> Callable[[], datetime | None]:
    it: Iterator[datetime] = CronSim(expr, datetime(*START, tzinfo=tz))
    return lambda: next(it)


def croniter_maker(expr: str, tz: ZoneInfo) -> Callable[[], datetime | None]:
    it = croniter(expr, datetime(*START, tzinfo=tz))
    return lambda: it.get_next(datetime)


def apscheduler_maker(expr: str, tz: ZoneInfo) -> Callable[[], datetime | None]:
    trigger = CronTrigger.from_crontab(expr, timezone=tz)
    start = datetime(*START, tzinfo=tz)
    # get_next_fire_time(previous, now) returns a time at or after now; like a scheduler
    # does, ask for the one after the previous fire by passing previous + 1 microsecond.
    from datetime import timedelta

    state: list[datetime | None] = [None, start + timedelta(microseconds=1)]

    def step() -> datetime | None:
        prev, now = state
        nxt = trigger.get_next_fire_time(prev, now)
        if nxt is not None:
            state[0], state[1] = nxt, nxt + timedelta(microseconds=1)
        return nxt

    return step


MAKERS: dict[str, Maker] = {
    "cronwork": cronwork_maker,
    "cronsim": cronsim_maker,
    "croniter": croniter_maker,
    "apscheduler": apscheduler_maker,
}

PARSERS: dict[str, Callable[[str, ZoneInfo], object]] = {
    "cronwork": lambda expr, tz: CronSchedule(expr, tz),
    "cronsim": lambda expr, tz: CronSim(expr, datetime(*START, tzinfo=tz)),
    "croniter": lambda expr, tz: croniter(expr, datetime(*START, tzinfo=tz)),
    "apscheduler": lambda expr, tz: CronTrigger.from_crontab(expr, timezone=tz),
}


def supported(name: str, expr: str, tz: ZoneInfo) -> bool:
    """Return whether a library accepts the expression and yields a first fire time."""
    try:
        step = MAKERS[name](expr, tz)
        return step() is not None
    except Exception:
        return False


def measure(func: Callable[[], object]) -> float:
    """Return microseconds per call, calling for about TARGET_SECONDS."""
    calls = 1
    while True:
        began = time.perf_counter()
        for _ in range(calls):
            func()
        elapsed = time.perf_counter() - began
        if elapsed >= TARGET_SECONDS:
            return elapsed / calls * 1e6
        calls = max(calls * 2, int(calls * TARGET_SECONDS / max(elapsed, 1e-9) * 1.1))


def next_fire_time_us(name: str, expr: str, tz: ZoneInfo) -> float:
    """Microseconds per successive next-fire call; restarts the iterator when it runs dry."""
    steps = [MAKERS[name](expr, tz)]

    def call() -> None:
        try:
            if steps[0]() is None:
                steps[0] = MAKERS[name](expr, tz)
        except (StopIteration, OverflowError, ValueError):
            # Far in the future (years beyond 9999): start over.
            steps[0] = MAKERS[name](expr, tz)

    return measure(call)


def same_sequences(expr: str, tz: ZoneInfo) -> bool:
    """Return whether cronwork and cronsim give the same first CHECK_COUNT fire instants."""
    ours, theirs = MAKERS["cronwork"](expr, tz), MAKERS["cronsim"](expr, tz)
    for _ in range(CHECK_COUNT):
        a, b = ours(), theirs()
        if a is None or b is None or a != b or a.utcoffset() != b.utcoffset():
            return False
    return True


def cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:8.2f}"


def main() -> None:
    """Print the table of next-fire and parse timings and the geometric mean ratios."""
    warnings.simplefilter("ignore")
    names = ["cronwork", *PEERS]
    ratios: dict[str, list[float]] = {peer: [] for peer in PEERS}
    parse_ratios: dict[str, list[float]] = {peer: [] for peer in PEERS}
    all_same = True
    header = f"{'zone':14} {'expression':18}" + "".join(f" {n:>11}" for n in names)
    header += "".join(f" {p + '/cw':>15}" for p in PEERS) + "  same-as-cronsim"
    print("next fire time, microseconds per call (successive calls)")
    print(header)
    parse_rows: list[str] = []
    for zone in ZONES:
        tz = ZoneInfo(zone)
        for expr in EXPRESSIONS:
            times: dict[str, float | None] = {}
            parse_times: dict[str, float | None] = {}
            for name in names:
                if supported(name, expr, tz):
                    times[name] = next_fire_time_us(name, expr, tz)
                    parser = PARSERS[name]
                    parse_times[name] = measure(lambda p=parser, e=expr, z=tz: p(e, z))
                else:
                    times[name] = parse_times[name] = None
            same = same_sequences(expr, tz)
            all_same &= same
            row = f"{zone:14} {expr:18}" + "".join(f" {cell(times[n]):>11}" for n in names)
            ours, ours_parse = times["cronwork"], parse_times["cronwork"]
            assert ours is not None and ours_parse is not None
            for peer in PEERS:
                peer_time, peer_parse = times[peer], parse_times[peer]
                if peer_time is None or peer_parse is None:
                    row += f" {'n/a':>15}"
                    continue
                ratios[peer].append(peer_time / ours)
                parse_ratios[peer].append(peer_parse / ours_parse)
                row += f" {peer_time / ours:>14.1f}x"
            print(row + f"  {'yes' if same else 'NO'}")
            parse_rows.append(
                f"{zone:14} {expr:18}" + "".join(f" {cell(parse_times[n]):>11}" for n in names)
            )
    print()
    print("parse time, microseconds per expression")
    print(f"{'zone':14} {'expression':18}" + "".join(f" {n:>11}" for n in names))
    print("\n".join(parse_rows))
    print()
    print("geometric mean of peer time / cronwork time")
    for peer in PEERS:
        if ratios[peer]:
            nf = math.exp(sum(map(math.log, ratios[peer])) / len(ratios[peer]))
            pr = math.exp(sum(map(math.log, parse_ratios[peer])) / len(parse_ratios[peer]))
            print(
                f"  {peer:12} next fire {nf:6.1f}x   parse {pr:6.1f}x   ({len(ratios[peer])} cases)"
            )
    verdict = "identical" if all_same else "NOT identical"
    print(f"cronwork and cronsim sequences ({CHECK_COUNT} fires per case): {verdict}")


if __name__ == "__main__":
    main()
