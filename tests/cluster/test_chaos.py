"""Chaos: three ``cronwork run`` nodes on one PostgreSQL database, killed and cut off at random.

Three real ``cronwork run`` processes share one test database and one job file: FAST_JOBS jobs
every second and a slow job (SLOW_FOR s of work every SLOW_EVERY s, with retries). For
CHAOS_FOR seconds a node picked at random gets SIGKILL every few seconds and is started again
a second later, and once every connection to the database is cut (``pg_terminate_backend``).
Every other kill aims at the node running the slow job, if one is, so that runs are
interrupted mid-way. Then every node stops with SIGTERM and the test checks, from a log the
jobs write themselves (tests/cluster/chaosjobs.py) against the store's records, that:

* no (job, slot, attempt) executed twice, and a slot executed again only as the retry of an
  attempt recorded ``lost``: the fast jobs (no retries) executed each slot at most once;
* every slot of every job from its first to its last is recorded;
* no run is left ``running``, nor waiting for a slot that passed while a node ran;
* runs that executed are recorded as they went (``succeeded``, by the node that ran them), or
  ``lost`` when their node was killed; only killed nodes lost runs;
* the slow job's interrupted runs ended ``lost`` and were retried (attempt + 1), and retries ran;
* the work went on: half the fast jobs' slots ran, every slot ran once all nodes were up again,
  and no fast run started more than MAX_LATE s after its slot.

The nodes all run on this machine, so the runs of a killed node are lost as soon as a node
starts and sees its process gone, well before their 30 s lease runs out (``cronwork run`` has
no setting for the lease; the lease rule is tested in tests/stores and tests/engine).

Real time: about CHAOS_FOR + 25 s. The seed is printed; set ``CRONWORK_CHAOS_SEED`` to replay
the same choices (the timing of the processes still varies).
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import cronwork
from pgkit import cut_connections

pytest.importorskip("psycopg", reason="needs the cronwork[postgres] extra")

import psycopg
from psycopg.rows import dict_row

pytestmark = pytest.mark.slow

NODES = 3
FAST_JOBS = 100
SLOW_EVERY = 6
SLOW_FOR = 3.0
SLOW_RETRIES = 3
CHAOS_FOR = 60.0
KILL_EVERY = (3.0, 6.0)
RESTART_AFTER = 1.0
# After the chaos, with every node up, time for the last kill's lost runs to be retried and
# for those retries (and a slot queued behind them) to run.
SETTLE = 3 * SLOW_FOR + 4.0
# Once every node is up after the chaos, every slot from this many seconds on must run: the
# last node started has lost the runs of the one it replaced, and a slot is claimed 1 s ahead.
RECOVERED_IN = 2.0
# How late a fast job's run may start, however busy the machine: a node that stalls after the
# cut or while another node dies is a fault (the slots themselves wait 1 s ahead, claimed).
MAX_LATE = 3.0
# How late a slot may be when the last node stops and still be left unclaimed: the runs a
# node claimed up to a second ahead are handed back unstarted at a graceful stop.
HANDED_BACK = 1.0

SOURCE = str(Path(cronwork.__file__).resolve().parents[1])
HERE = str(Path(__file__).resolve().parent)
MICRO = 1_000_000


def job_file() -> str:
    jobs = [
        f'[[jobs]]\nid = "fast{n:03d}"\nschedule = "every 1s"\ncall = "chaosjobs:fast"\n'
        for n in range(FAST_JOBS)
    ]
    jobs.append(
        f'[[jobs]]\nid = "slow"\nschedule = "every {SLOW_EVERY}s"\ncall = "chaosjobs:slow"\n'
        f"kwargs = {{ seconds = {SLOW_FOR} }}\nretries = {SLOW_RETRIES}\n"
        'retry_backoff = "1s"\noverlap = "queue"\n'
    )
    return '[scheduler]\ntimezone = "UTC"\n\n' + "\n".join(jobs)


@dataclass
class Node:
    """One ``cronwork run`` process slot: started, killed and started again."""

    name: str
    argv: list[str]
    env: dict[str, str]
    folder: Path
    proc: subprocess.Popen[bytes] | None = None
    pids: list[int] = field(default_factory=list)

    @property
    def output(self) -> Path:
        return self.folder / f"{self.name}.out"

    def start(self) -> None:
        with self.output.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv, cwd=self.folder, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.pids.append(self.proc.pid)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> int:
        """SIGKILL, and reap it (a zombie would still look alive to the other nodes)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        return self.proc.pid

    def tail(self) -> str:
        """The last lines this node's processes printed, for a failure's message."""
        return "\n".join(self.output.read_text(errors="replace").splitlines()[-20:])

    def started(self) -> bool:
        """True once the current process logged that its scheduler started."""
        assert self.proc is not None
        text = self.output.read_text(errors="replace")
        started = re.findall(r"scheduler started .*\bpid=(\d+)\b", text)
        return str(self.proc.pid) in started


@dataclass(frozen=True)
class Line:
    event: str
    job: str
    slot: int
    attempt: int
    run_id: str
    pid: int


def read_log(path: Path) -> list[Line]:
    lines = []
    for text in path.read_text().splitlines():
        event, job, slot, attempt, run_id, pid = text.split()
        lines.append(Line(event, job, int(slot), int(attempt), run_id, int(pid)))
    return lines


def read_runs(url: str) -> list[dict[str, Any]]:
    query = (
        "SELECT id::text AS id, job_id, scheduled_for, attempt, status, node, error, "
        "due_at, trigger, started_at FROM runs ORDER BY job_id, scheduled_for, attempt"
    )
    with psycopg.connect(url) as conn, conn.cursor(row_factory=dict_row) as cur:
        return list(cur.execute(query))


def pid_of(node: str | None) -> int | None:
    """The pid in a node id ``host:pid:random:stamp``."""
    if node is None:
        return None
    return int(node.split(":")[1])


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@dataclass
class Chaos:
    """What the chaos did, for the checks and the report."""

    seed: int
    kills: list[tuple[float, str, int, str]] = field(default_factory=list)
    cut: int = 0
    cut_at: float = 0.0
    began: float = 0.0
    settled_at: float = 0.0
    stopped_at: float = 0.0

    @property
    def killed_pids(self) -> set[int]:
        return {pid for _, _, pid, _ in self.kills}


def slow_runner(log: Path) -> int | None:
    """The pid of the node executing the slow job now, from the job log, if any."""
    open_runs: dict[str, int] = {}
    for line in read_log(log) if log.exists() else []:
        if line.job == "slow" and line.event == "start":
            open_runs[line.run_id] = line.pid
        elif line.job == "slow" and line.event == "end":
            open_runs.pop(line.run_id, None)
    return next(reversed(open_runs.values()), None) if open_runs else None


def run_chaos(url: str, folder: Path, chaos: Chaos) -> list[Node]:
    """Start the nodes, kill them and cut them off for CHAOS_FOR s, settle, stop them."""
    nodes: list[Node] = []
    try:
        return _run_chaos(url, folder, chaos, nodes)
    finally:
        for node in nodes:
            if node.alive:
                node.kill()


def _run_chaos(url: str, folder: Path, chaos: Chaos, nodes: list[Node]) -> list[Node]:
    rng = random.Random(chaos.seed)
    (folder / "jobs.toml").write_text(job_file())
    log = folder / "jobs.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([SOURCE, HERE]),
        "CRONWORK_CHAOS_LOG": str(log),
    }
    env.pop("CRONWORK_STORE", None)
    argv = [sys.executable, "-m", "cronwork", "run", "jobs.toml", "--store", url]
    nodes.extend(Node(f"node{k}", argv, env, folder) for k in range(NODES))
    for node in nodes:
        node.start()
    wait_for(lambda: all(node.started() for node in nodes), 60, "the nodes to start")
    chaos.began = time.monotonic()
    end = chaos.began + CHAOS_FOR
    # Just after a whole second, while the nodes write the records of that second's runs.
    cut_in = rng.uniform(0.3, 0.7) * CHAOS_FOR
    cut_at = chaos.began + cut_in - (time.time() + cut_in) % 1 + rng.uniform(0.005, 0.05)
    next_kill = chaos.began + rng.uniform(*KILL_EVERY)
    restarts: list[tuple[float, Node]] = []
    while True:
        now = time.monotonic()
        for moment, node in list(restarts):
            if now >= moment:
                node.start()
                restarts.remove((moment, node))
        for node in nodes:
            if not node.alive and all(node is not other for _, other in restarts):
                pytest.fail(f"{node.name} ended by itself:\n{node.tail()}", pytrace=False)
        if now >= end:
            break
        if chaos.cut == 0 and now >= cut_at:
            chaos.cut = cut_connections(url)
            chaos.cut_at = now - chaos.began
            assert chaos.cut > 0, "no connection to cut: are the nodes connected?"
        if now >= next_kill:
            up = [node for node in nodes if node.alive]
            aim = slow_runner(log) if len(chaos.kills) % 2 == 1 else None
            aimed = [node for node in up if aim is not None and node.proc and node.proc.pid == aim]
            victim = aimed[0] if aimed else rng.choice(up)
            pid = victim.kill()
            why = "running the slow job" if aimed else "at random"
            chaos.kills.append((now - chaos.began, victim.name, pid, why))
            restarts.append((now + RESTART_AFTER, victim))
            next_kill = now + rng.uniform(*KILL_EVERY)
        time.sleep(0.05)
    for _, node in restarts:
        node.start()
    wait_for(lambda: all(node.started() for node in nodes), 60, "the nodes to start again")
    chaos.settled_at = time.time()
    time.sleep(SETTLE)
    chaos.stopped_at = time.time()
    for node in nodes:
        assert node.proc is not None and node.alive, f"{node.name} ended:\n{node.tail()}"
        node.proc.send_signal(signal.SIGTERM)
    for node in nodes:
        assert node.proc is not None
        code = node.proc.wait(timeout=60)
        assert code == 0, f"{node.name} stopped with {code}:\n{node.tail()}"
    return nodes


@pytest.mark.timeout(300)
def test_three_nodes_killed_and_cut_off_run_each_slot_once(url: str, tmp_path: Path) -> None:
    seed = int(os.environ.get("CRONWORK_CHAOS_SEED") or random.SystemRandom().randrange(10**6))
    print(f"\nchaos seed {seed} (CRONWORK_CHAOS_SEED={seed} replays its choices)")
    chaos = Chaos(seed)
    began = time.monotonic()
    nodes = run_chaos(url, tmp_path, chaos)
    took = time.monotonic() - began
    for at, name, pid, why in chaos.kills:
        print(f"  {at:5.1f}s kill -9 {name} (pid {pid}) {why}")
    print(f"  {chaos.cut_at:5.1f}s cut {chaos.cut} connection(s) to the database")
    print(f"  the nodes ran as pids {[node.pids for node in nodes]}")

    lines = read_log(tmp_path / "jobs.log")
    runs = read_runs(url)
    by_key = {(r["job_id"], r["scheduled_for"], r["attempt"]): r for r in runs}
    killed = chaos.killed_pids
    problems: list[str] = []
    found = 0

    def problem(text: str) -> None:
        nonlocal found
        found += 1
        if len(problems) < 40:
            problems.append(text)

    # What executed, from the jobs' own log.
    starts: Counter[tuple[str, int, int]] = Counter()
    ends: set[str] = set()
    for line in lines:
        if line.event == "start":
            starts[line.job, line.slot, line.attempt] += 1
        else:
            ends.add(line.run_id)
    for key, count in starts.items():
        if count > 1:
            problem(f"{key} (job, slot, attempt) executed {count} times")
    attempts_run: dict[tuple[str, int], set[int]] = defaultdict(set)
    for job, slot, attempt in starts:
        attempts_run[job, slot].add(attempt)
    for (job, slot), attempts in attempts_run.items():
        if job != "slow" and len(attempts) > 1:
            problem(f"{job} slot {slot} executed as attempts {sorted(attempts)} (no retries)")
        for attempt in attempts:
            before = by_key.get((job, slot, attempt - 1))
            if attempt > 1 and (before is None or before["status"] != "lost"):
                status = before and before["status"]
                problem(f"{job} slot {slot} attempt {attempt} ran after attempt {status}")

    # Each execution matches its record: same run, succeeded by its node, or lost on a kill.
    for line in lines:
        if line.event != "start":
            continue
        run = by_key.get((line.job, line.slot, line.attempt))
        where = f"{line.job} slot {line.slot} attempt {line.attempt} run {line.run_id}"
        if run is None or run["id"] != line.run_id:
            problem(f"{where} executed but the store has {run and run['id']}")
            continue
        if run["status"] == "succeeded":
            if pid_of(run["node"]) != line.pid:
                problem(f"{where} ran in pid {line.pid}, recorded by {run['node']}")
            if line.job == "slow" and line.run_id not in ends:
                problem(f"{where} recorded succeeded but never ended")
        elif run["status"] == "lost":
            if line.pid not in killed:
                problem(f"{where} ran in pid {line.pid}, never killed, and is recorded lost")
        else:
            problem(f"{where} executed and is recorded {run['status']}")
    for run in runs:
        if run["job_id"] != "slow" and run["attempt"] != 1:
            problem(f"{run['job_id']} slot {run['scheduled_for']} has attempt {run['attempt']}")
    executed_ids = {line.run_id for line in lines if line.event == "start"}
    for run in runs:
        if run["status"] == "succeeded" and run["id"] not in executed_ids:
            problem(f"run {run['id']} of {run['job_id']} is recorded succeeded but never ran")

    # Every slot from a job's first to its last is recorded, whatever became of it.
    statuses: dict[str, Counter[str]] = defaultdict(Counter)
    slots: dict[str, set[int]] = defaultdict(set)
    for run in runs:
        statuses[run["job_id"]][run["status"]] += 1
        slots[run["job_id"]].add(run["scheduled_for"])
    expected_jobs = {f"fast{n:03d}" for n in range(FAST_JOBS)} | {"slow"}
    assert set(slots) == expected_jobs, f"jobs with runs: {sorted(slots)}"
    for job, recorded in slots.items():
        step = (SLOW_EVERY if job == "slow" else 1) * MICRO
        first, last = min(recorded), max(recorded)
        missing = sorted(set(range(first, last + 1, step)) - recorded)
        if missing:
            problem(f"{job}: {len(missing)} slot(s) unrecorded from first to last: {missing[:5]}")
        if any((slot - first) % step for slot in recorded):
            problem(f"{job}: slots off the schedule: {sorted(recorded)[:5]}")
        # The jobs went on to the end: the last slot came after the chaos.
        if last < (chaos.stopped_at - SETTLE) * MICRO:
            problem(f"{job}: the last slot {last} is before the end of the chaos")

    # Nothing left running; what is left waiting was handed back by the graceful stops.
    stop = int((chaos.stopped_at - HANDED_BACK) * MICRO)
    for run in runs:
        where = f"{run['job_id']} slot {run['scheduled_for']} attempt {run['attempt']}"
        if run["status"] == "running":
            problem(f"{where} is left running on {run['node']}")
        due = run["due_at"] or run["scheduled_for"]
        if run["status"] == "scheduled" and (run["node"] is not None or due < stop):
            problem(f"{where} is left scheduled (due {due}, node {run['node']})")
        if run["status"] == "lost" and pid_of(run["node"]) not in killed:
            problem(f"{where} is lost on {run['node']}, which was never killed")
        allowed = {"succeeded", "lost", "skipped", "missed", "scheduled"}
        if run["status"] not in allowed:
            problem(f"{where} ended {run['status']}: {run['error']}")

    # The slow job's interrupted runs ended lost and were retried; the retries ran.
    slow_lost = [r for r in runs if r["job_id"] == "slow" and r["status"] == "lost"]
    retried = 0
    for run in slow_lost:
        if run["attempt"] > SLOW_RETRIES:
            continue
        retry = by_key.get(("slow", run["scheduled_for"], run["attempt"] + 1))
        if retry is None or retry["trigger"] != "retry":
            problem(f"slow slot {run['scheduled_for']} attempt {run['attempt']}: lost, no retry")
        else:
            retried += 1
    interrupted = [
        line
        for line in lines
        if line.job == "slow" and line.event == "start" and line.run_id not in ends
    ]
    for line in interrupted:
        status = by_key[("slow", line.slot, line.attempt)]["status"]
        if status != "lost":
            problem(f"slow run {line.run_id} was cut off mid-way and is recorded {status}")
    retries_run = [ln for ln in lines if ln.job == "slow" and ln.event == "end" and ln.attempt > 1]

    fast = Counter[str]()
    for job, counter in statuses.items():
        if job != "slow":
            fast.update(counter)
    # How late the fast jobs' runs started: a kill elsewhere or the cut must not hold a node up.
    late = sorted(
        ((r["started_at"] - r["scheduled_for"]) / MICRO, r["job_id"], r["scheduled_for"])
        for r in runs
        if r["job_id"] != "slow" and r["status"] == "succeeded"
    )
    p99 = late[int(0.99 * (len(late) - 1))][0] if late else 0.0
    print(
        f"  {took:.0f}s in all; {len(chaos.kills)} kills; {len(executed_ids)} runs executed; "
        f"fast jobs' runs {dict(fast)}, started late by p99 {p99:.3f}s, at most "
        f"{late[-1][0] if late else 0:.3f}s; slow job's runs {dict(statuses['slow'])}, "
        f"{len(interrupted)} cut off mid-way, {len(slow_lost)} lost, {retried} retried, "
        f"{len(retries_run)} retries ran to the end"
    )
    for lateness, job, slot in late:
        if lateness > MAX_LATE:
            problem(f"{job} slot {slot} started {lateness:.1f}s late")
    if problems:
        shown = f" (the first {len(problems)})" if found > len(problems) else ""
        pytest.fail(f"{found} problem(s){shown}:\n" + "\n".join(problems), pytrace=False)
    assert len(chaos.kills) >= CHAOS_FOR / KILL_EVERY[1] - 1
    assert chaos.cut >= NODES, "the cut reached fewer connections than there are nodes"
    assert interrupted, "no kill caught the slow job running: the test proved nothing of it"
    assert slow_lost and retried and retries_run
    # Most slots ran despite the kills, and once every node was up again, every slot ran.
    assert fast["succeeded"] >= 0.5 * sum(fast.values()), dict(fast)
    calm = int((chaos.settled_at + RECOVERED_IN) * MICRO)
    not_run = [
        f"{r['job_id']} slot {r['scheduled_for']} {r['status']}"
        for r in runs
        if r["job_id"] != "slow" and calm <= r["scheduled_for"] < stop
        if r["status"] != "succeeded"
    ]
    assert not_run == [], f"after the chaos, slots that did not run: {not_run[:20]}"
