-- cronwork schema version 1.
-- Instants are INTEGER microseconds since 1970-01-01 UTC (they sort and compare as numbers);
-- durations are REAL seconds; lists and mappings are JSON text. Nothing is pickled.

CREATE TABLE jobs (
    id                 TEXT PRIMARY KEY,
    -- A random number rewritten on every definition change, so each process can cache the
    -- parsed schedule of a row and notice when another process changed it.
    rev                INTEGER NOT NULL,
    schedule_text      TEXT NOT NULL,
    timezone           TEXT NOT NULL,
    start_at           INTEGER,
    end_at             INTEGER,
    jitter             REAL,
    target_kind        TEXT NOT NULL CHECK (target_kind IN ('call', 'task', 'command')),
    target_ref         TEXT NOT NULL,
    command            TEXT,            -- {"argv": [...], "cwd": ..., "env": {...}, "shell": false}
    args               TEXT NOT NULL DEFAULT '[]',
    kwargs             TEXT NOT NULL DEFAULT '{}',
    timeout            REAL,
    on_timeout         TEXT NOT NULL,
    retries            INTEGER NOT NULL,
    retry_backoff      REAL NOT NULL,
    retry_backoff_max  REAL NOT NULL,
    overlap            TEXT NOT NULL,
    max_instances      INTEGER NOT NULL,
    misfire            TEXT NOT NULL,
    misfire_grace      REAL NOT NULL,
    tags               TEXT NOT NULL DEFAULT '[]',
    executor           TEXT,
    depends_on         TEXT NOT NULL DEFAULT '[]',
    dependency_timeout REAL,
    paused             INTEGER NOT NULL DEFAULT 0,
    broken             TEXT,
    origin             TEXT,
    next_run_at        INTEGER,
    created_at         INTEGER
);

-- The claim reads due active jobs in fire-time order.
CREATE INDEX jobs_due ON jobs (next_run_at)
    WHERE paused = 0 AND broken IS NULL AND next_run_at IS NOT NULL;

CREATE TABLE runs (
    id               INTEGER PRIMARY KEY,
    job_id           TEXT NOT NULL,       -- no foreign key: history outlives its job
    scheduled_for    INTEGER NOT NULL,
    attempt          INTEGER NOT NULL,
    status           TEXT NOT NULL,
    node             TEXT,
    created_at       INTEGER,
    queued_at        INTEGER,
    started_at       INTEGER,
    finished_at      INTEGER,
    lease_until      INTEGER,
    exit_code        INTEGER,
    output           TEXT,
    error            TEXT,
    due_at           INTEGER,
    trigger          TEXT NOT NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    waited_for       TEXT NOT NULL DEFAULT '[]'
);

-- The invariant every store enforces: one run per (job, slot, attempt).
CREATE UNIQUE INDEX runs_slot ON runs (job_id, scheduled_for, attempt);

-- History listings across all jobs, newest slot first.
CREATE INDEX runs_recent ON runs (scheduled_for);

-- Unowned scheduled runs (manual triggers, retries) waiting to be adopted by a claim.
CREATE INDEX runs_pending ON runs (coalesce(due_at, scheduled_for))
    WHERE status = 'scheduled' AND node IS NULL;

-- Unfinished runs: lease renewal and cancel requests look them up by node; lease expiry
-- scans them all, which is cheap because finished runs leave this index.
CREATE INDEX runs_unfinished ON runs (node, lease_until)
    WHERE status IN ('scheduled', 'running');
