-- Named queries of the SQLite store. Each starts with a "-- name: <name>" line; the loader
-- in stores/sqlite.py splits on those lines. Unfinished means status scheduled or running.

-- name: job_insert
INSERT INTO jobs (
    id, rev, schedule_text, timezone, start_at, end_at, jitter, target_kind, target_ref,
    command, args, kwargs, timeout, on_timeout, retries, retry_backoff, retry_backoff_max,
    overlap, max_instances, misfire, misfire_grace, tags, executor, depends_on,
    dependency_timeout, paused, broken, origin, next_run_at, created_at, notify, pause_note
) VALUES (
    :id, random(), :schedule_text, :timezone, :start_at, :end_at, :jitter, :target_kind,
    :target_ref, :command, :args, :kwargs, :timeout, :on_timeout, :retries, :retry_backoff,
    :retry_backoff_max, :overlap, :max_instances, :misfire, :misfire_grace, :tags, :executor,
    :depends_on, :dependency_timeout, :paused, :broken, :origin, :next_run_at, :created_at,
    :notify, :pause_note
)

-- name: job_update
UPDATE jobs SET
    rev = random(), schedule_text = :schedule_text, timezone = :timezone,
    start_at = :start_at, end_at = :end_at, jitter = :jitter, target_kind = :target_kind,
    target_ref = :target_ref, command = :command, args = :args, kwargs = :kwargs,
    timeout = :timeout, on_timeout = :on_timeout, retries = :retries,
    retry_backoff = :retry_backoff, retry_backoff_max = :retry_backoff_max,
    overlap = :overlap, max_instances = :max_instances, misfire = :misfire,
    misfire_grace = :misfire_grace, tags = :tags, executor = :executor,
    depends_on = :depends_on, dependency_timeout = :dependency_timeout, paused = :paused,
    broken = :broken, origin = :origin, next_run_at = :next_run_at, created_at = :created_at,
    notify = :notify, pause_note = :pause_note
WHERE id = :id

-- name: job_delete
DELETE FROM jobs WHERE id = ?

-- name: job_get
SELECT * FROM jobs WHERE id = ?

-- name: jobs_all
SELECT * FROM jobs ORDER BY id

-- name: jobs_page
-- A page of jobs by id, after the last id of the page before ('' for the first).
SELECT * FROM jobs WHERE id > ? ORDER BY id LIMIT ?

-- name: jobs_page_keys
-- The same page, only what tells a cached definition's state (see SqlStore.jobs_page).
SELECT id, rev, paused, broken, next_run_at FROM jobs WHERE id > ? ORDER BY id LIMIT ?

-- name: runs_running_count
-- Runs running now on any node; the IN term lets it read the index of unfinished runs only.
SELECT count(*) AS running FROM runs
WHERE status IN ('scheduled', 'running') AND status = 'running'

-- name: job_counts
-- A broken job counts as broken whether or not it is paused too.
SELECT
    coalesce(sum(broken IS NULL AND paused = 0), 0) AS active,
    coalesce(sum(broken IS NULL AND paused <> 0), 0) AS paused,
    coalesce(sum(broken IS NOT NULL), 0) AS broken
FROM jobs

-- name: named_targets
SELECT DISTINCT target_kind, target_ref FROM jobs WHERE target_kind IN ('call', 'task')

-- name: jobs_to_check
-- Takes a JSON array of [kind, ref] pairs.
SELECT * FROM jobs
WHERE broken IS NOT NULL
   OR (target_kind, target_ref) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?))
ORDER BY id

-- name: jobs_triggered_maybe
-- Trigger schedules are stored as "after ...", "on_failure ...", "on_finish ..."; the store
-- parses the rows this finds and keeps the real trigger schedules.
SELECT * FROM jobs
WHERE ltrim(schedule_text) LIKE 'after%' OR ltrim(schedule_text) LIKE 'on_f%'
ORDER BY id

-- name: jobs_due_keys
-- What a claim reads of each due job whose definition it has parsed already.
SELECT id, rev, next_run_at FROM jobs
WHERE paused = 0 AND broken IS NULL AND next_run_at IS NOT NULL AND next_run_at <= ?
ORDER BY next_run_at
LIMIT ?

-- name: jobs_by_ids
-- Takes a JSON array of job ids.
SELECT * FROM jobs WHERE id IN (SELECT value FROM json_each(?))

-- name: jobs_set_next
-- Takes a JSON array of [job id, next_run_at] pairs.
UPDATE jobs SET next_run_at = v.value ->> 1
FROM json_each(?) AS v
WHERE jobs.id = v.value ->> 0

-- name: job_set_broken
UPDATE jobs SET broken = ? WHERE id = ?

-- name: next_job_due
SELECT min(next_run_at) FROM jobs
WHERE paused = 0 AND broken IS NULL AND next_run_at IS NOT NULL

-- name: next_pending_due
-- A paused or broken job's retries wait for it to resume; manual triggers do not.
SELECT min(coalesce(r.due_at, r.scheduled_for)) FROM runs AS r
LEFT JOIN jobs AS j ON j.id = r.job_id
WHERE r.status = 'scheduled' AND r.node IS NULL
  AND (r.trigger = 'manual' OR j.id IS NULL OR (j.paused = 0 AND j.broken IS NULL))

-- name: runs_pending_due
SELECT r.* FROM runs AS r
LEFT JOIN jobs AS j ON j.id = r.job_id
WHERE r.status = 'scheduled' AND r.node IS NULL
  AND coalesce(r.due_at, r.scheduled_for) <= ?
  AND (r.trigger = 'manual' OR j.id IS NULL OR (j.paused = 0 AND j.broken IS NULL))
ORDER BY coalesce(r.due_at, r.scheduled_for), r.id
LIMIT ?

-- name: runs_adopt
-- Takes node, lease_until and a JSON array of run ids.
UPDATE runs SET node = ?, lease_until = ?
WHERE id IN (SELECT value FROM json_each(?)) AND status = 'scheduled' AND node IS NULL

-- Batches are one JSON document read with json_each, one statement per batch: sqlite3 hands
-- the GIL back and forth on every statement step, and under a busy engine each handoff can
-- wait milliseconds, so executemany of many rows was slower than the SQL itself by 10x.
-- Each run is an array in the order of rows.RUN_COLUMNS.

-- name: runs_insert
-- "WHERE true" resolves the parser ambiguity between a SELECT and an ON CONFLICT clause.
INSERT INTO runs (
    job_id, scheduled_for, attempt, status, node, created_at, queued_at, started_at,
    finished_at, lease_until, exit_code, output, error, due_at, trigger, cancel_requested,
    waited_for
)
SELECT
    value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6,
    value ->> 7, value ->> 8, value ->> 9, value ->> 10, value ->> 11, value ->> 12,
    value ->> 13, value ->> 14, value ->> 15, value ->> 16, value ->> 17
FROM json_each(?) WHERE true
ON CONFLICT (job_id, scheduled_for, attempt) DO NOTHING

-- name: runs_insert_claimed
-- Runs of slots claimed on time differ only in job and slot: takes node, created_at,
-- lease_until and a JSON array of [job id, slot] pairs; due_at is the slot.
INSERT INTO runs (
    job_id, scheduled_for, attempt, status, node, created_at, lease_until, due_at, trigger
)
SELECT value ->> 0, value ->> 1, 1, 'scheduled', ?, ?, ?, value ->> 1, 'schedule'
FROM json_each(?) WHERE true
ON CONFLICT (job_id, scheduled_for, attempt) DO NOTHING

-- name: runs_claimed_after
SELECT id, job_id, scheduled_for FROM runs WHERE id > ? ORDER BY id

-- name: runs_inserted_after
SELECT id, job_id, scheduled_for, attempt FROM runs WHERE id > ?

-- name: runs_save
-- A cancel request made meanwhile by someone else survives the save.
UPDATE runs SET
    status = v.value ->> 4, node = v.value ->> 5, queued_at = v.value ->> 7,
    started_at = v.value ->> 8, finished_at = v.value ->> 9, lease_until = v.value ->> 10,
    exit_code = v.value ->> 11, output = v.value ->> 12, error = v.value ->> 13,
    due_at = v.value ->> 14, trigger = v.value ->> 15,
    cancel_requested = max(runs.cancel_requested, v.value ->> 16),
    waited_for = v.value ->> 17
FROM json_each(?) AS v
WHERE runs.id = v.value ->> 0

-- name: run_get
SELECT * FROM runs WHERE id = ?

-- name: runs_all
SELECT * FROM runs ORDER BY scheduled_for DESC, attempt DESC, id DESC LIMIT ?

-- name: runs_of_job
SELECT * FROM runs WHERE job_id = ?
ORDER BY scheduled_for DESC, attempt DESC, id DESC LIMIT ?

-- name: runs_newest_of_jobs
-- Takes a JSON array of job ids; each job's newest run in brief, walking the runs_slot index
-- once each.
SELECT r.id, r.job_id, r.status, r.started_at, r.finished_at FROM json_each(?) AS wanted
JOIN runs AS r ON r.id = (
    SELECT id FROM runs WHERE job_id = wanted.value
    ORDER BY scheduled_for DESC, attempt DESC, id DESC LIMIT 1
)

-- name: runs_with_status
SELECT * FROM runs WHERE status = ?
ORDER BY scheduled_for DESC, attempt DESC, id DESC LIMIT ?

-- name: runs_of_job_with_status
SELECT * FROM runs WHERE job_id = ? AND status = ?
ORDER BY scheduled_for DESC, attempt DESC, id DESC LIMIT ?

-- name: run_last_finished
SELECT * FROM runs
WHERE job_id = ? AND finished_at IS NOT NULL AND status NOT IN ('scheduled', 'running')
ORDER BY finished_at DESC, id DESC LIMIT 1

-- name: run_last_finished_with_status
SELECT * FROM runs
WHERE job_id = ? AND finished_at IS NOT NULL AND status = ?
  AND status NOT IN ('scheduled', 'running')
ORDER BY finished_at DESC, id DESC LIMIT 1

-- name: runs_delete_pending_of_job
-- Only unowned runs: an engine may already have started or ended a run it claimed, and it
-- writes that outcome later.
DELETE FROM runs
WHERE job_id = ? AND status = 'scheduled' AND started_at IS NULL AND node IS NULL

-- name: runs_renew
UPDATE runs SET lease_until = ? WHERE node = ? AND status IN ('scheduled', 'running')

-- name: runs_expired
-- Takes the instant and a JSON array of nodes known to have ended.
SELECT * FROM runs
WHERE status IN ('scheduled', 'running') AND node IS NOT NULL
  AND (lease_until < ? OR node IN (SELECT value FROM json_each(?)))

-- name: run_owners
SELECT DISTINCT node FROM runs WHERE status IN ('scheduled', 'running') AND node IS NOT NULL

-- name: runs_unfinished_of_node
SELECT * FROM runs WHERE node = ? AND status IN ('scheduled', 'running') ORDER BY id

-- name: run_mark_lost
UPDATE runs SET status = 'lost', finished_at = ?, error = ?
WHERE id = ? AND status IN ('scheduled', 'running')

-- name: run_cancel_now
UPDATE runs SET status = 'cancelled', finished_at = ?, error = 'cancelled before start'
WHERE id = ?

-- name: run_flag_cancel
UPDATE runs SET cancel_requested = 1 WHERE id = ?

-- name: runs_cancel_requests
SELECT * FROM runs
WHERE node = ? AND status IN ('scheduled', 'running') AND cancel_requested = 1

-- name: prune_beyond_count
SELECT id FROM (
    SELECT id, row_number() OVER (
        PARTITION BY job_id ORDER BY scheduled_for DESC, attempt DESC
    ) AS newest
    FROM runs WHERE status NOT IN ('scheduled', 'running')
) WHERE newest > ?

-- name: prune_older_than
SELECT id FROM runs
WHERE status NOT IN ('scheduled', 'running') AND coalesce(finished_at, scheduled_for) < ?

-- name: prune_delete
-- Takes a JSON list of ids; re-checks "finished" in case a run changed since it was chosen.
DELETE FROM runs
WHERE id IN (SELECT value FROM json_each(?)) AND status NOT IN ('scheduled', 'running')
