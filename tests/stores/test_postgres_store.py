"""The PostgreSQL store beyond the contract: opening, schema, concurrency, clocks, indexes.

The contract suite (test_store_contract.py) runs on PostgreSQL too; these tests cover what
only a shared server has. Each test gets databases of its own (see pgkit).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from storekit import LEASE, T0, at, job, run

from cronwork.errors import StoreError
from cronwork.runs import RunStatus
from cronwork.stores import open_store
from cronwork.stores.rows import to_micros
from pgkit import Databases, cut_connections, database_url

psycopg = pytest.importorskip("psycopg", reason="needs the cronwork[postgres] extra")

from psycopg.rows import dict_row  # noqa: E402

from cronwork.stores.postgres import SCHEMA_VERSION, PostgresStore, Q  # noqa: E402


@pytest.fixture
def url(postgres_databases: Databases) -> Iterator[str]:
    """A database with cronwork's schema and no jobs, for this test only."""
    name = postgres_databases.lease()
    yield database_url(name)
    postgres_databases.give_back(name)


@pytest.fixture
def empty_url(postgres_databases: Databases) -> Iterator[str]:
    """A database with no tables at all, for this test only."""
    name = postgres_databases.empty()
    yield database_url(name)
    postgres_databases.give_back_empty(name)


@pytest.fixture
def stores() -> Iterator[list[PostgresStore]]:
    """Stores a test opens, closed at its end."""
    made: list[PostgresStore] = []
    yield made
    for store in made:
        store.close()


def opened(stores: list[PostgresStore], url: str, **options: Any) -> PostgresStore:
    store = PostgresStore(url, **options)
    stores.append(store)
    store.open()
    return store


def sql(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of one statement, run outside any store."""
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(query, params or None)
        return cursor.fetchall() if cursor.description else []


def wait_for_lock_waiters(url: str, count: int) -> None:
    """Return once ``count`` sessions of the database wait for a lock (10 s at most)."""
    waiting = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 10
    while sql(url, waiting, url.rpartition("/")[2])[0][0] < count:
        assert time.monotonic() < deadline, f"{count} calls never waited for a lock at once"
        time.sleep(0.01)


def tables(url: str) -> list[str]:
    rows = sql(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
    return [row[0] for row in rows]


# -- opening ------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_a_postgres_url_opens_a_postgres_store(url: str, scheme: str) -> None:
    from cronwork.scheduler import Scheduler

    scheduler = Scheduler(store=url.replace("postgresql://", f"{scheme}://", 1))
    try:
        assert isinstance(scheduler.store, PostgresStore)
        scheduler.add_job("backup", "json:dumps", "every 1h")
    finally:
        scheduler.close()
    assert sql(url, "SELECT id FROM jobs") == [("backup",)]


def test_the_password_never_appears_in_the_url_or_errors() -> None:
    store = PostgresStore("postgresql://me:s3cret@127.0.0.1:1/nothing", connect_timeout=2)
    assert "s3cret" not in store.url and "s3cret" not in repr(store)
    with pytest.raises(StoreError, match="cannot reach PostgreSQL database") as error:
        store.open()
    assert "s3cret" not in str(error.value)
    assert "postgresql://me:***@127.0.0.1:1/nothing" in str(error.value)
    in_query = PostgresStore("postgres://me@db.example/jobs?sslmode=require&password=s3cret")
    assert in_query.url == "postgres://me@db.example/jobs?sslmode=require&password=***"
    as_keywords = PostgresStore("host=db.example password=s3cret dbname=jobs")
    assert as_keywords.url == "host=db.example password=*** dbname=jobs"


def test_without_the_extra_a_postgres_url_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cronwork.cli import main

    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` raises ImportError
    monkeypatch.delitem(sys.modules, "cronwork.stores.postgres")
    with pytest.raises(StoreError, match=r"pip install 'cronwork\[postgres\]'"):
        open_store("postgresql://me@db.example/jobs")
    with pytest.raises(SystemExit) as exit_:
        main(["list", "--store", "postgresql://me@db.example/jobs"])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err == (
        "error: the PostgreSQL store needs the psycopg driver: pip install 'cronwork[postgres]'\n"
    )


# -- schema and access ----------------------------------------------------------------


def test_three_nodes_opening_an_empty_database_at_once_make_one_schema(
    empty_url: str, stores: list[PostgresStore]
) -> None:
    nodes = [PostgresStore(empty_url) for _ in range(3)]
    stores.extend(nodes)
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def open_node(store: PostgresStore) -> None:
        start.wait()
        try:
            store.open()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_node, args=(node,)) for node in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert tables(empty_url) == ["cronwork_schema", "jobs", "runs"]
    assert sql(empty_url, "SELECT version FROM cronwork_schema") == [(SCHEMA_VERSION,)]
    assert [node.schema_version() for node in nodes] == [SCHEMA_VERSION] * 3


@pytest.mark.parametrize("access", ["read", "existing"])
def test_a_database_without_cronworks_schema_is_refused_and_left_alone(
    empty_url: str, access: str
) -> None:
    sql(empty_url, "CREATE TABLE invoices (id int)")
    store = PostgresStore(empty_url, access=access)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match=r"not a cronwork database \(its tables: invoices\)"):
        store.open()
    assert tables(empty_url) == ["invoices"]


def test_reading_opens_in_read_only_transactions(url: str, stores: list[PostgresStore]) -> None:
    opened(stores, url).add_job(job("a"))
    reader = opened(stores, url, access="read")
    assert [j.id for j in reader.jobs()] == ["a"]
    with pytest.raises(StoreError, match="read only"):
        reader.add_job(job("b"))
    assert sql(url, "SELECT id FROM jobs") == [("a",)]


def test_tables_of_someone_else_named_like_cronworks_are_not_taken_over(empty_url: str) -> None:
    sql(empty_url, "CREATE TABLE jobs (name text)")
    with pytest.raises(StoreError, match="has tables named jobs but is not a cronwork database"):
        PostgresStore(empty_url).open()
    assert tables(empty_url) == ["jobs"]


def test_a_database_of_a_newer_cronwork_is_refused_untouched(url: str) -> None:
    sql(url, "UPDATE cronwork_schema SET version = 99")
    for access in ("create", "existing", "read"):
        with pytest.raises(StoreError, match=r"schema version 99.*newer cronwork"):
            PostgresStore(url, access=access).open()  # type: ignore[arg-type]
    assert sql(url, "SELECT version FROM cronwork_schema") == [(99,)]


def test_reading_commands_refuse_an_empty_database_and_writing_ones_create_the_schema(
    empty_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cronwork.cli import main

    monkeypatch.setenv("CRONWORK_STORE", empty_url)

    def cli(*args: str) -> tuple[int, str, str]:
        code = 0
        try:
            main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    code, _out, err = cli("list")
    assert code == 1 and "not a cronwork database (it has no tables)" in err
    assert err.count("\n") == 1
    assert tables(empty_url) == []
    assert cli("add", "backup", "every 1h", "--", "true")[0] == 0
    code, out, _err = cli("list", "--json")
    assert code == 0 and [j["id"] for j in json.loads(out)] == ["backup"]


# -- claims -------------------------------------------------------------------------------


def test_two_nodes_claiming_many_due_jobs_at_once_take_each_slot_once(
    url: str, stores: list[PostgresStore]
) -> None:
    setup = opened(stores, url)
    count = 300
    setup.sync_jobs(lambda _: ([job(f"j{i:03}", "every 1s") for i in range(count)], []))
    nodes = {name: opened(stores, url) for name in ("n1", "n2")}
    taken: dict[str, list[tuple[str, datetime]]] = {name: [] for name in nodes}
    start = threading.Barrier(len(nodes))

    def claim_for(name: str) -> None:
        start.wait()
        for step in range(20):
            now = T0 + timedelta(seconds=step / 2)
            claim = nodes[name].claim(now, timedelta(seconds=0.5), name, LEASE, limit=120)
            taken[name] += [(r.job_id, r.scheduled_for) for r in claim.runs + claim.missed]

    threads = [threading.Thread(target=claim_for, args=(name,)) for name in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = taken["n1"] + taken["n2"]
    assert len(everything) == len(set(everything)), "a slot was claimed twice"
    # None lost: each job's slots from T0 up to its next fire time were all taken.
    expected = set()
    for stored in setup.jobs():
        assert stored.next_run_at is not None
        seconds = int((stored.next_run_at - T0).total_seconds())
        expected |= {(stored.id, T0 + timedelta(seconds=s)) for s in range(seconds)}
    assert set(everything) == expected
    assert len(setup.runs(limit=100_000)) == len(everything)


def test_a_claim_reads_only_the_due_jobs_through_an_index(
    url: str, stores: list[PostgresStore]
) -> None:
    store = opened(stores, url)
    store.add_job(job("seed", "every 1h", next_run_at=T0 + timedelta(days=1)))
    # 20,000 more jobs due later, copied from the seed row on the server.
    sql(
        url,
        "INSERT INTO jobs SELECT copy.* FROM jobs AS j, generate_series(1, 20000) AS g, "
        "LATERAL json_populate_record(j, json_build_object("
        "'id', 'j' || g, 'next_run_at', j.next_run_at + g::bigint * 1000000)) AS copy",
    )
    for i in range(10):
        store.add_job(job(f"due{i}", "every 1h", next_run_at=T0))
    sql(url, "ANALYZE jobs")
    plan = json.dumps(sql(url, "EXPLAIN (FORMAT JSON) " + Q["jobs_due_keys"], 10**16, 5000))
    assert '"Index Name": "jobs_due"' in plan
    assert "Seq Scan" not in plan
    fresh = opened(stores, url)
    claim = fresh.claim(T0, timedelta(0), "n1", LEASE)
    assert sorted(r.job_id for r in claim.runs) == [f"due{i}" for i in range(10)]
    assert sorted(claim.jobs) == [f"due{i}" for i in range(10)]  # nothing else was loaded


# -- leases on the server's clock ---------------------------------------------------------


def test_leases_are_judged_on_the_servers_clock_whatever_the_nodes_clock(
    url: str, stores: list[PostgresStore]
) -> None:
    # The node's clock is an hour behind; the other node's is right. On the node's own
    # clock its lease ends in the past for the other one, yet the lease holds: both are
    # placed on the server's timeline. (A generous margin: no wall-clock luck involved.)
    behind = timedelta(hours=1)
    slow, right = opened(stores, url), opened(stores, url)
    slow_now = datetime.now(UTC) - behind
    slow.add_job(job("a", "every 1h", next_run_at=slow_now))
    (run,) = slow.claim(slow_now, timedelta(0), "slow", LEASE).runs
    assert run.lease_until == slow_now + LEASE  # the node sees its lease on its own clock
    assert slow.get_run(run.id).lease_until == slow_now + LEASE
    assert right.expire_leases(datetime.now(UTC)) == []
    slow.renew_leases("slow", slow_now + 4 * LEASE)
    assert right.expire_leases(datetime.now(UTC) + 2 * LEASE) == []
    lost = right.expire_leases(datetime.now(UTC) + 5 * LEASE)
    assert [(r.id, r.status) for r in lost] == [(run.id, RunStatus.LOST)]


def claimed_while_held(store: PostgresStore, url: str, held: str) -> tuple[list[str], bool]:
    """The job ids of a claim made while another node holds job ``held``'s row, as in the
    middle of its own claim; and whether the claim waited for it (30 s, against a hang)."""
    taken: list[str] = []
    with psycopg.connect(url) as other:
        other.execute("SELECT id FROM jobs WHERE id = %s FOR UPDATE", (held,))
        claimer = threading.Thread(
            target=lambda: taken.extend(
                r.job_id for r in store.claim(T0, timedelta(0), "n1", LEASE).runs
            )
        )
        claimer.start()
        claimer.join(timeout=30)
        blocked = claimer.is_alive()
        other.rollback()
    claimer.join()
    return taken, blocked


def test_a_claim_skips_due_jobs_another_node_is_claiming_instead_of_waiting(
    url: str, stores: list[PostgresStore]
) -> None:
    store = opened(stores, url)
    for job_id in ("busy", "free"):
        store.add_job(job(job_id, next_run_at=T0))
    taken, blocked = claimed_while_held(store, url, "busy")
    assert not blocked, "the claim waited for the other node's lock"
    assert taken == ["free"]
    assert [r.job_id for r in store.claim(T0, timedelta(0), "n1", LEASE).runs] == ["busy"]


def server_micros(url: str, ahead: timedelta = timedelta(0)) -> int:
    """The server's clock as a store writes leases: bigint microseconds, ``ahead`` later."""
    query = "SELECT (extract(epoch FROM clock_timestamp()) * 1e6)::bigint"
    return int(sql(url, query)[0][0]) + int(ahead / timedelta(microseconds=1))


def adopted_while_other_node_works(
    store: PostgresStore, url: str, n2_works: Callable[[Any], object]
) -> tuple[list[str], set[str], set[str]]:
    """A claim of node n1 made while node n2, in the middle of its own claim, has done
    ``n2_works`` (given n2's connection) on job "j", its transaction still open; n2 asks which
    of its jobs are contended just before n1's claim commits, as it may. Returns the job ids
    n1 took, the jobs n1 found contended and those n2 found contended."""
    taken: list[str] = []
    mine: set[str] = set()
    theirs: set[str] = set()
    with psycopg.connect(url, row_factory=dict_row) as other:
        n2_works(other)
        ask = store._contended

        def contended_then_n2_asks(conn: Any, runs: Any, node: str, now: datetime) -> set[str]:
            found: set[str] = ask(conn, runs, node, now)
            rows = other.execute(Q["jobs_contended"], (["j"], "n2", server_micros(url)))
            theirs.update(row["job_id"] for row in rows.fetchall())
            return found

        def claim() -> None:
            made = store.claim(T0, timedelta(0), "n1", LEASE)
            taken.extend(r.job_id for r in made.runs)
            mine.update(made.contended)

        store._contended = contended_then_n2_asks  # type: ignore[method-assign]
        claimer = threading.Thread(target=claim)
        claimer.start()
        claimer.join(timeout=30)
        blocked = claimer.is_alive()
        other.commit()
        claimer.join()
        del store._contended
    assert not blocked, "adopting waited for the other node's lock"
    return taken, mine, theirs


def test_a_run_adopted_while_another_node_claims_its_job_is_seen_by_one_of_them(
    url: str, stores: list[PostgresStore]
) -> None:
    # n2 claims a slot of job j (it holds j's row and has inserted its run) while n1 adopts a
    # retry of j: one of the two must see the other's run, or both start (overlap=skip).
    store = opened(stores, url)
    store.add_job(job("j", next_run_at=T0 + timedelta(hours=1), overlap="skip"))
    store.add_run(run("j", trigger="retry", attempt=2))
    lease = server_micros(url, timedelta(hours=1))

    def n2_claims(conn: Any) -> None:
        conn.execute("SELECT id FROM jobs WHERE id = 'j' FOR UPDATE")
        conn.execute(
            "INSERT INTO runs (job_id, scheduled_for, attempt, status, node, lease_until, "
            "trigger) VALUES ('j', %s, 1, 'scheduled', 'n2', %s, 'schedule')",
            (to_micros(T0), lease),
        )

    taken, mine, theirs = adopted_while_other_node_works(store, url, n2_claims)
    assert "j" not in taken or "j" in mine or "j" in theirs, "both run j, neither saw the other"
    if "j" not in taken:
        # Once n2's claim is in, n1 adopts the retry and knows that j runs elsewhere too.
        later = store.claim(T0, timedelta(0), "n1", LEASE)
        assert ([r.job_id for r in later.runs], later.contended) == (["j"], {"j"})


def test_two_nodes_adopting_runs_of_one_job_at_once_see_each_other(
    url: str, stores: list[PostgresStore]
) -> None:
    # Two manual runs of j: n2 adopts the first (its claim still open) while n1 claims.
    store = opened(stores, url)
    store.add_job(job("j", next_run_at=T0 + timedelta(hours=1), overlap="skip"))
    store.add_run(run("j", slot=at(-1), trigger="manual"))
    store.add_run(run("j", trigger="manual"))

    def n2_adopts(conn: Any) -> None:
        lease_until = T0 + timedelta(hours=1)
        adopted = store._adopt(conn, "n2", lease_until, to_micros(T0), 1, store._skew(T0))
        assert [r.scheduled_for for r in adopted] == [at(-1)]

    taken, mine, theirs = adopted_while_other_node_works(store, url, n2_adopts)
    assert "j" not in taken or "j" in mine or "j" in theirs, "both run j, neither saw the other"
    if "j" not in taken:
        later = store.claim(T0, timedelta(0), "n1", LEASE)
        assert ([r.job_id for r in later.runs], later.contended) == (["j"], {"j"})


def test_runs_of_a_removed_job_are_still_adopted(url: str, stores: list[PostgresStore]) -> None:
    store = opened(stores, url)
    store.add_job(job("gone", next_run_at=T0 + timedelta(hours=1)))
    store.add_run(run("gone", trigger="manual"))
    sql(url, "DELETE FROM jobs WHERE id = 'gone'")
    assert [r.job_id for r in store.claim(T0, timedelta(0), "n1", LEASE).runs] == ["gone"]


def test_a_connection_the_server_cut_is_replaced_on_the_next_call(
    url: str, stores: list[PostgresStore]
) -> None:
    store = opened(stores, url)
    store.add_job(job("a"))
    name = url.rpartition("/")[2]
    cut = sql(
        url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> pg_backend_pid()",
        name,
    )
    assert cut and all(ok for (ok,) in cut)
    assert [j.id for j in store.jobs()] == ["a"]


def test_after_a_cut_the_next_call_skips_every_dead_pooled_connection_at_once(
    url: str, stores: list[PostgresStore], caplog: pytest.LogCaptureFixture
) -> None:
    store = opened(stores, url, pool_size=4)
    store.add_job(job("a"))
    # Four calls at once, held up by a lock taken outside, fill the pool with four connections.
    with psycopg.connect(url) as locker:
        locker.execute("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE")
        callers = [threading.Thread(target=store.jobs) for _ in range(4)]
        for caller in callers:
            caller.start()
        wait_for_lock_waiters(url, 4)
    for caller in callers:
        caller.join()
    assert cut_connections(url) == 4

    began = time.monotonic()
    assert [j.id for j in store.jobs()] == ["a"]
    # Not a second's wait per dead connection, as the pool's own check between tries does.
    assert time.monotonic() - began < 0.5
    # Connections it found cut are dropped quietly: the engine logs outages, not each cut.
    assert not [r for r in caplog.records if r.name.startswith("psycopg")]


def test_a_call_cut_while_it_waits_runs_again_on_a_new_connection_quietly(
    url: str, stores: list[PostgresStore], caplog: pytest.LogCaptureFixture
) -> None:
    store = opened(stores, url)
    locker = psycopg.connect(url)
    locker.execute("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE")
    adding = threading.Thread(target=store.add_job, args=(job("a"),))
    adding.start()
    wait_for_lock_waiters(url, 1)
    # Cuts the waiting call's connection and the locker's, which lets the retry in.
    assert cut_connections(url) >= 2
    locker.close()
    adding.join()
    assert [j.id for j in store.jobs()] == ["a"]
    assert not [r for r in caplog.records if r.name.startswith("psycopg")]


# -- notifications --------------------------------------------------------------------------


def test_changes_other_nodes_must_see_are_notified_and_ordinary_runs_are_not(
    url: str, stores: list[PostgresStore]
) -> None:
    store = opened(stores, url)
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute("LISTEN cronwork_changes")

        def heard() -> int:
            return len(list(listener.notifies(timeout=0.3)))

        store.add_job(job("a"))
        store.update_job(job("a", paused=True))
        store.update_job(job("a"))
        assert heard() == 3
        [claimed] = store.claim(T0, timedelta(0), "n1", LEASE).runs
        store.save_runs([claimed.replace(status=RunStatus.FAILED, finished_at=T0)])
        store.add_run(run("a", T0, attempt=2, trigger="retry", due_at=at(5)))
        store.renew_leases("n1", at(60))
        assert heard() == 0, "ordinary runs must not notify"
        manual = store.add_run(run("a", at(1), trigger="manual", due_at=at(1)))
        assert manual is not None and heard() == 1
        adopted = store.claim(at(1), timedelta(0), "n1", LEASE).runs
        assert [r.id for r in adopted] == [manual.id] and heard() == 0
        store.request_cancel(manual.id, at(2))
        assert heard() == 1
        store.remove_job("a")
        assert heard() == 1
