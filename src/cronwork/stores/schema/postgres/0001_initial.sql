-- cronwork PostgreSQL schema version 1.
-- The rows are those of the SQLite store (stores/rows.py reads and writes both): instants are
-- bigint microseconds since 1970-01-01 UTC, durations double precision seconds, lists and
-- mappings JSON text. runs.lease_until is on the server's clock (see stores/postgres.py).

-- The schema version; the migration runner in stores/postgres.py sets it after each script.
CREATE TABLE cronwork_schema (
    version integer NOT NULL
);
INSERT INTO cronwork_schema (version) VALUES (0);

CREATE TABLE jobs (
    id                 text PRIMARY KEY,
    -- A random number rewritten on every definition change, so each node can cache the
    -- parsed schedule of a row and notice when another node changed it.
    rev                bigint NOT NULL,
    schedule_text      text NOT NULL,
    timezone           text NOT NULL,
    start_at           bigint,
    end_at             bigint,
    jitter             double precision,
    target_kind        text NOT NULL CHECK (target_kind IN ('call', 'task', 'command')),
    target_ref         text NOT NULL,
    command            text,            -- {"argv": [...], "cwd": ..., "env": {...}, "shell": false}
    args               text NOT NULL DEFAULT '[]',
    kwargs             text NOT NULL DEFAULT '{}',
    timeout            double precision,
    on_timeout         text NOT NULL,
    retries            bigint NOT NULL,
    retry_backoff      double precision NOT NULL,
    retry_backoff_max  double precision NOT NULL,
    overlap            text NOT NULL,
    max_instances      bigint NOT NULL,
    misfire            text NOT NULL,
    misfire_grace      double precision NOT NULL,
    tags               text NOT NULL DEFAULT '[]',
    executor           text,
    depends_on         text NOT NULL DEFAULT '[]',
    dependency_timeout double precision,
    paused             boolean NOT NULL DEFAULT false,
    broken             text,
    origin             text,
    next_run_at        bigint,
    created_at         bigint
);

-- The claim reads due active jobs in fire-time order: its cost follows the number of due
-- jobs, not the number of jobs. Queries repeat this predicate so the planner can use it.
CREATE INDEX jobs_due ON jobs (next_run_at)
    WHERE NOT paused AND broken IS NULL AND next_run_at IS NOT NULL;

-- Start-up checks: jobs by named target, and broken jobs.
CREATE INDEX jobs_target ON jobs (target_kind, target_ref);
CREATE INDEX jobs_broken ON jobs (id) WHERE broken IS NOT NULL;

CREATE TABLE runs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id           text NOT NULL,       -- no foreign key: history outlives its job
    scheduled_for    bigint NOT NULL,
    attempt          integer NOT NULL,
    status           text NOT NULL,
    node             text,
    created_at       bigint,
    queued_at        bigint,
    started_at       bigint,
    finished_at      bigint,
    lease_until      bigint,              -- on the server's clock
    exit_code        bigint,
    output           text,
    error            text,
    due_at           bigint,
    trigger          text NOT NULL,
    cancel_requested boolean NOT NULL DEFAULT false,
    waited_for       text NOT NULL DEFAULT '[]'
);

-- The invariant every store enforces: one run per (job, slot, attempt). It also serves the
-- history of one job, newest slot first.
CREATE UNIQUE INDEX runs_slot ON runs (job_id, scheduled_for, attempt);

-- History listings across all jobs, newest slot first, and by status.
CREATE INDEX runs_recent ON runs (scheduled_for);
CREATE INDEX runs_status ON runs (status, scheduled_for);

-- The run of a job that finished last (dependencies, `after` triggers).
CREATE INDEX runs_finished ON runs (job_id, finished_at)
    WHERE finished_at IS NOT NULL AND status NOT IN ('scheduled', 'running');

-- Unowned scheduled runs (manual triggers, retries) waiting to be adopted by a claim.
CREATE INDEX runs_pending ON runs ((coalesce(due_at, scheduled_for)))
    WHERE status = 'scheduled' AND node IS NULL;

-- Unfinished runs: lease renewal and cancel requests look them up by node; lease expiry
-- scans them all, which is cheap because finished runs leave this index.
CREATE INDEX runs_unfinished ON runs (node, lease_until)
    WHERE status IN ('scheduled', 'running');
