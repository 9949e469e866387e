-- Named queries of the SQLite store. Each starts with a "-- name: <name>" line; the loader
-- in stores/sqlite.py splits on those lines. Unfinished means status scheduled or running.

-- name: job_insert
INSERT INTO jobs (
    id, rev, schedule_text, timezone, start_at, end_at, jitter, target_kind, target_ref,
    command, args, kwargs, timeout, on_timeout, retries, retry_backoff, retry_backoff_max,
    overlap, max_instances, misfire, misfire_grace, tags, executor, depends_on,
    dependency_timeout, paused, broken, origin, next_run_at, created_at
) VALUES (
    :id, random(), :schedule_text, :timezone, :start_at, :end_at, :jitter, :target_kind,
    :target_ref, :command, :args, :kwargs, :timeout, :on_timeout, :retries, :retry_backoff,
    :retry_backoff_max, :overlap, :max_instances, :misfire, :misfire_grace, :tags, :executor,
    :depends_on, :dependency_timeout, :paused, :broken, :origin, :next_run_at, :created_at
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
    broken = :broken, origin = :origin, next_run_at = :next_run_at, created_at = :created_at
WHERE id = :id

-- name: job_delete
DELETE FROM jobs WHERE id = ?

-- name: job_get
SELECT * FROM jobs WHERE id = ?

-- name: jobs_all
SELECT * FROM jobs ORDER BY id

-- name: jobs_due
SELECT * FROM jobs
WHERE paused = 0 AND broken IS NULL AND next_run_at IS NOT NULL AND next_run_at <= ?
ORDER BY next_run_at
LIMIT ?

-- name: job_set_next
UPDATE jobs SET next_run_at = ? WHERE id = ?

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

-- name: run_adopt
UPDATE runs SET node = ?, lease_until = ?
WHERE id = ? AND status = 'scheduled' AND node IS NULL

-- name: run_insert
INSERT INTO runs (
    job_id, scheduled_for, attempt, status, node, created_at, queued_at, started_at,
    finished_at, lease_until, exit_code, output, error, due_at, trigger, cancel_requested,
    waited_for
) VALUES (
    :job_id, :scheduled_for, :attempt, :status, :node, :created_at, :queued_at, :started_at,
    :finished_at, :lease_until, :exit_code, :output, :error, :due_at, :trigger,
    :cancel_requested, :waited_for
)
ON CONFLICT (job_id, scheduled_for, attempt) DO NOTHING

-- name: runs_inserted_after
SELECT id, job_id, scheduled_for, attempt FROM runs WHERE id > ?

-- name: run_save
-- A cancel request made meanwhile by someone else survives the save.
UPDATE runs SET
    status = :status, node = :node, queued_at = :queued_at, started_at = :started_at,
    finished_at = :finished_at, lease_until = :lease_until, exit_code = :exit_code,
    output = :output, error = :error, due_at = :due_at, trigger = :trigger,
    cancel_requested = max(cancel_requested, :cancel_requested), waited_for = :waited_for
WHERE id = :id

-- name: run_get
SELECT * FROM runs WHERE id = ?

-- name: runs_all
SELECT * FROM runs ORDER BY scheduled_for DESC, attempt DESC, id DESC LIMIT ?

-- name: runs_of_job
SELECT * FROM runs WHERE job_id = ?
ORDER BY scheduled_for DESC, attempt DESC, id DESC LIMIT ?

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
DELETE FROM runs WHERE job_id = ? AND status = 'scheduled' AND started_at IS NULL

-- name: runs_renew
UPDATE runs SET lease_until = ? WHERE node = ? AND status IN ('scheduled', 'running')

-- name: runs_expired
SELECT * FROM runs
WHERE status IN ('scheduled', 'running') AND lease_until < ? AND node IS NOT NULL

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
