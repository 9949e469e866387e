-- Named queries of the PostgreSQL store. Each starts with a "-- name: <name>" line; the loader
-- in stores/postgres.py splits on those lines. Parameters are psycopg's (%s, %(name)s).
-- Unfinished means status scheduled or running. Every instant is bigint microseconds.

-- name: schema_tables
SELECT table_name FROM information_schema.tables
WHERE table_schema = current_schema() ORDER BY table_name

-- name: schema_version
SELECT version FROM cronwork_schema

-- name: schema_set_version
UPDATE cronwork_schema SET version = %s

-- name: job_insert
-- Inserts nothing when the id exists; the store then reports the duplicate.
INSERT INTO jobs (
    id, rev, schedule_text, timezone, start_at, end_at, jitter, target_kind, target_ref,
    command, args, kwargs, timeout, on_timeout, retries, retry_backoff, retry_backoff_max,
    overlap, max_instances, misfire, misfire_grace, tags, executor, depends_on,
    dependency_timeout, paused, broken, origin, next_run_at, created_at, notify, pause_note
) VALUES (
    %(id)s, floor(random() * 9e15)::bigint, %(schedule_text)s, %(timezone)s, %(start_at)s,
    %(end_at)s, %(jitter)s, %(target_kind)s, %(target_ref)s, %(command)s, %(args)s,
    %(kwargs)s, %(timeout)s, %(on_timeout)s, %(retries)s, %(retry_backoff)s,
    %(retry_backoff_max)s, %(overlap)s, %(max_instances)s, %(misfire)s, %(misfire_grace)s,
    %(tags)s, %(executor)s, %(depends_on)s, %(dependency_timeout)s, %(paused)s <> 0,
    %(broken)s, %(origin)s, %(next_run_at)s, %(created_at)s, %(notify)s, %(pause_note)s
)
ON CONFLICT (id) DO NOTHING

-- name: job_update
UPDATE jobs SET
    rev = floor(random() * 9e15)::bigint, schedule_text = %(schedule_text)s,
    timezone = %(timezone)s, start_at = %(start_at)s, end_at = %(end_at)s,
    jitter = %(jitter)s, target_kind = %(target_kind)s, target_ref = %(target_ref)s,
    command = %(command)s, args = %(args)s, kwargs = %(kwargs)s, timeout = %(timeout)s,
    on_timeout = %(on_timeout)s, retries = %(retries)s, retry_backoff = %(retry_backoff)s,
    retry_backoff_max = %(retry_backoff_max)s, overlap = %(overlap)s,
    max_instances = %(max_instances)s, misfire = %(misfire)s,
    misfire_grace = %(misfire_grace)s, tags = %(tags)s, executor = %(executor)s,
    depends_on = %(depends_on)s, dependency_timeout = %(dependency_timeout)s,
    paused = %(paused)s <> 0, broken = %(broken)s, origin = %(origin)s,
    next_run_at = %(next_run_at)s, created_at = %(created_at)s,
    notify = %(notify)s, pause_note = %(pause_note)s
WHERE id = %(id)s

-- name: job_delete
DELETE FROM jobs WHERE id = %s

-- name: job_get
SELECT * FROM jobs WHERE id = %s

-- name: jobs_all
SELECT * FROM jobs ORDER BY id

-- name: jobs_page
-- A page of jobs by id, after the last id of the page before ('' for the first).
SELECT * FROM jobs WHERE id > %s ORDER BY id LIMIT %s

-- name: jobs_page_keys
-- The same page, only what tells a cached definition's state (see SqlStore.jobs_page).
SELECT id, rev, paused, broken, next_run_at FROM jobs WHERE id > %s ORDER BY id LIMIT %s

-- name: runs_running_count
-- Runs running now on any node; the IN term lets it read the index of unfinished runs only.
SELECT count(*) AS running FROM runs
WHERE status IN ('scheduled', 'running') AND status = 'running'

-- name: job_counts
-- A broken job counts as broken whether or not it is paused too.
SELECT
    count(*) FILTER (WHERE broken IS NULL AND NOT paused) AS active,
    count(*) FILTER (WHERE broken IS NULL AND paused) AS paused,
    count(*) FILTER (WHERE broken IS NOT NULL) AS broken
FROM jobs

-- name: jobs_lock
-- sync_jobs: no other writer may change the jobs between its read and its writes. Claims
-- may still lock rows (ROW SHARE) but wait before they write.
LOCK TABLE jobs IN SHARE ROW EXCLUSIVE MODE

-- name: named_targets
SELECT DISTINCT target_kind, target_ref FROM jobs WHERE target_kind IN ('call', 'task')

-- name: jobs_to_check
-- Takes the kinds and the refs of the targets as two arrays.
SELECT * FROM jobs
WHERE broken IS NOT NULL
   OR (target_kind, target_ref) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
ORDER BY id

-- name: jobs_triggered_maybe
-- Trigger schedules are stored as "after ...", "on_failure ...", "on_finish ..."; the store
-- parses the rows this finds and keeps the real trigger schedules.
SELECT * FROM jobs
WHERE starts_with(ltrim(schedule_text), 'after') OR starts_with(ltrim(schedule_text), 'on_f')
ORDER BY id

-- name: jobs_due_keys
-- What a claim reads of each due job. The rows stay locked until the claim commits; rows
-- another node is claiming are skipped, so nodes share the due jobs instead of queueing.
SELECT id, rev, next_run_at FROM jobs
WHERE NOT paused AND broken IS NULL AND next_run_at IS NOT NULL AND next_run_at <= %s
ORDER BY next_run_at
LIMIT %s
FOR UPDATE SKIP LOCKED

-- name: jobs_by_ids
SELECT * FROM jobs WHERE id = ANY(%s)

-- name: jobs_set_next
-- Takes the job ids and their next_run_at as two arrays.
UPDATE jobs SET next_run_at = v.next_run_at
FROM unnest(%s::text[], %s::bigint[]) AS v (id, next_run_at)
WHERE jobs.id = v.id

-- name: job_set_broken
UPDATE jobs SET broken = %s WHERE id = %s

-- name: next_due
-- The next slot of an active job and the next unowned run, in one snapshot. A paused or
-- broken job's retries wait for it to resume; manual triggers do not.
SELECT
    (SELECT min(next_run_at) FROM jobs
     WHERE NOT paused AND broken IS NULL AND next_run_at IS NOT NULL) AS job_due,
    (SELECT min(coalesce(r.due_at, r.scheduled_for)) FROM runs AS r
     LEFT JOIN jobs AS j ON j.id = r.job_id
     WHERE r.status = 'scheduled' AND r.node IS NULL
       AND (r.trigger = 'manual' OR j.id IS NULL OR (NOT j.paused AND j.broken IS NULL))
    ) AS run_due

-- name: runs_adopt_due
-- Takes node, lease_until, the instant and the room left. Adopting a run locks its job's
-- row as a claim does (FOR NO KEY UPDATE conflicts with the claim's FOR UPDATE and with
-- itself), so of two nodes putting runs of one job in flight at once, the later sees the
-- earlier's run in its overlap check (jobs_contended). Rows another node holds are skipped,
-- not waited for: the node that holds the job adopts its runs in its own claim, or the next
-- claim does. The job's row is locked before the run's and LockRows sits above the sort and
-- below the limit, so a run whose job is held is not locked at all, and nothing is locked
-- that is not adopted (but for a job whose run someone else holds, as a cancel does).
-- Runs of a removed job have no row to lock; they take the room left (the engine drops
-- them at dispatch). RETURNING gives no order, the store sorts.
WITH of_jobs AS (
    SELECT r.id FROM runs AS r JOIN jobs AS j ON j.id = r.job_id
    WHERE r.status = 'scheduled' AND r.node IS NULL
      AND coalesce(r.due_at, r.scheduled_for) <= %(until)s
      AND (r.trigger = 'manual' OR (NOT j.paused AND j.broken IS NULL))
    ORDER BY coalesce(r.due_at, r.scheduled_for), r.id
    LIMIT %(room)s
    FOR NO KEY UPDATE OF j SKIP LOCKED
    FOR UPDATE OF r SKIP LOCKED
), of_removed_jobs AS (
    SELECT r.id FROM runs AS r
    WHERE r.status = 'scheduled' AND r.node IS NULL
      AND coalesce(r.due_at, r.scheduled_for) <= %(until)s
      AND NOT EXISTS (SELECT 1 FROM jobs AS j WHERE j.id = r.job_id)
    ORDER BY coalesce(r.due_at, r.scheduled_for), r.id
    LIMIT %(room)s - (SELECT count(*) FROM of_jobs)
    FOR UPDATE OF r SKIP LOCKED
)
UPDATE runs SET node = %(node)s, lease_until = %(lease_until)s
WHERE id IN (SELECT id FROM of_jobs UNION ALL SELECT id FROM of_removed_jobs)
RETURNING *

-- name: runs_insert
-- Takes a JSON array of runs, each an array in the order of rows.RUN_COLUMNS.
INSERT INTO runs (
    job_id, scheduled_for, attempt, status, node, created_at, queued_at, started_at,
    finished_at, lease_until, exit_code, output, error, due_at, trigger, cancel_requested,
    waited_for
)
SELECT
    v ->> 1, (v ->> 2)::bigint, (v ->> 3)::integer, v ->> 4, v ->> 5, (v ->> 6)::bigint,
    (v ->> 7)::bigint, (v ->> 8)::bigint, (v ->> 9)::bigint, (v ->> 10)::bigint,
    (v ->> 11)::bigint, v ->> 12, v ->> 13, (v ->> 14)::bigint, v ->> 15,
    (v ->> 16)::integer <> 0, v ->> 17
FROM json_array_elements(%s::json) AS v
ON CONFLICT (job_id, scheduled_for, attempt) DO NOTHING
RETURNING id, job_id, scheduled_for, attempt

-- name: runs_insert_claimed
-- Runs of slots claimed on time differ only in job and slot: takes node, created_at,
-- lease_until and the job ids and slots as two arrays; due_at is the slot.
INSERT INTO runs (
    job_id, scheduled_for, attempt, status, node, created_at, lease_until, due_at, trigger
)
SELECT v.job_id, v.slot, 1, 'scheduled', %s, %s, %s, v.slot, 'schedule'
FROM unnest(%s::text[], %s::bigint[]) AS v (job_id, slot)
ON CONFLICT (job_id, scheduled_for, attempt) DO NOTHING
RETURNING id, job_id, scheduled_for

-- name: runs_save
-- A cancel request made meanwhile by someone else survives the save.
UPDATE runs SET
    status = v ->> 4, node = v ->> 5, queued_at = (v ->> 7)::bigint,
    started_at = (v ->> 8)::bigint, finished_at = (v ->> 9)::bigint,
    lease_until = (v ->> 10)::bigint, exit_code = (v ->> 11)::bigint, output = v ->> 12,
    error = v ->> 13, due_at = (v ->> 14)::bigint, trigger = v ->> 15,
    cancel_requested = runs.cancel_requested OR (v ->> 16)::integer <> 0,
    waited_for = v ->> 17
FROM json_array_elements(%s::json) AS v
WHERE runs.id = (v ->> 0)::bigint

-- name: run_get
SELECT * FROM runs WHERE id = %s

-- name: runs_all
SELECT * FROM runs ORDER BY scheduled_for DESC, attempt DESC, id DESC LIMIT %s

-- name: runs_of_job
SELECT * FROM runs WHERE job_id = %s
ORDER BY scheduled_for DESC, attempt DESC, id DESC LIMIT %s

-- name: runs_newest_of_jobs
-- Takes an array of job ids; each job's newest run in brief, walking the runs_slot index
-- once each.
SELECT r.id, r.job_id, r.status, r.started_at, r.finished_at
FROM unnest(%s::text[]) AS wanted(job_id)
CROSS JOIN LATERAL (
    SELECT id, job_id, status, started_at, finished_at FROM runs WHERE runs.job_id = wanted.job_id
    ORDER BY scheduled_for DESC, attempt DESC, id DESC LIMIT 1
) AS r

-- name: runs_with_status
SELECT * FROM runs WHERE status = %s
ORDER BY scheduled_for DESC, attempt DESC, id DESC LIMIT %s

-- name: runs_of_job_with_status
SELECT * FROM runs WHERE job_id = %s AND status = %s
ORDER BY scheduled_for DESC, attempt DESC, id DESC LIMIT %s

-- name: run_last_finished
SELECT * FROM runs
WHERE job_id = %s AND finished_at IS NOT NULL AND status NOT IN ('scheduled', 'running')
ORDER BY finished_at DESC, id DESC LIMIT 1

-- name: run_last_finished_with_status
SELECT * FROM runs
WHERE job_id = %s AND finished_at IS NOT NULL AND status = %s
  AND status NOT IN ('scheduled', 'running')
ORDER BY finished_at DESC, id DESC LIMIT 1

-- name: runs_delete_pending_of_job
-- Only unowned runs: an engine may already have started or ended a run it claimed, and it
-- writes that outcome later.
DELETE FROM runs
WHERE job_id = %s AND status = 'scheduled' AND started_at IS NULL AND node IS NULL

-- name: runs_renew
UPDATE runs SET lease_until = %s WHERE node = %s AND status IN ('scheduled', 'running')

-- name: runs_expired
-- Takes the instant (on the server's clock) and an array of nodes known to have ended.
-- Rows another transaction holds are left for the next expiry: their node is writing them.
SELECT * FROM runs
WHERE status IN ('scheduled', 'running') AND node IS NOT NULL
  AND (lease_until < %s OR node = ANY(%s::text[]))
ORDER BY id
FOR UPDATE SKIP LOCKED

-- name: jobs_contended
-- Takes the job ids, this node and the instant (server clock): the jobs with an unfinished
-- run owned by another node whose lease holds.
SELECT DISTINCT job_id FROM runs
WHERE job_id = ANY(%s::text[]) AND status IN ('scheduled', 'running')
  AND node IS NOT NULL AND node <> %s AND lease_until >= %s

-- name: runs_elsewhere
-- The same runs themselves.
SELECT * FROM runs
WHERE job_id = ANY(%s::text[]) AND status IN ('scheduled', 'running')
  AND node IS NOT NULL AND node <> %s AND lease_until >= %s

-- name: run_owners
SELECT DISTINCT node FROM runs WHERE status IN ('scheduled', 'running') AND node IS NOT NULL

-- name: runs_unfinished_of_node
SELECT * FROM runs WHERE node = %s AND status IN ('scheduled', 'running') ORDER BY id

-- name: runs_mark_lost
-- Takes the finish instant, and the run ids and their errors as two arrays.
UPDATE runs SET status = 'lost', finished_at = %s, error = v.error
FROM unnest(%s::bigint[], %s::text[]) AS v (id, error)
WHERE runs.id = v.id AND runs.status IN ('scheduled', 'running')

-- name: run_lock
SELECT * FROM runs WHERE id = %s FOR UPDATE

-- name: run_cancel_now
UPDATE runs SET status = 'cancelled', finished_at = %s, error = 'cancelled before start'
WHERE id = %s

-- name: run_flag_cancel
UPDATE runs SET cancel_requested = true WHERE id = %s

-- name: runs_cancel_requests
SELECT * FROM runs
WHERE node = %s AND status IN ('scheduled', 'running') AND cancel_requested

-- name: prune_beyond_count
SELECT id FROM (
    SELECT id, row_number() OVER (
        PARTITION BY job_id ORDER BY scheduled_for DESC, attempt DESC
    ) AS newest
    FROM runs WHERE status NOT IN ('scheduled', 'running')
) AS ranked WHERE newest > %s

-- name: prune_older_than
SELECT id FROM runs
WHERE status NOT IN ('scheduled', 'running') AND coalesce(finished_at, scheduled_for) < %s

-- name: prune_delete
-- Re-checks "finished" in case a run changed since it was chosen.
DELETE FROM runs WHERE id = ANY(%s) AND status NOT IN ('scheduled', 'running')

-- name: changes_listen
-- The channel of changes that other nodes should see before their next poll (see pglisten.py).
LISTEN cronwork_changes

-- name: changes_notify
-- Takes the sending store's token, so that its own process ignores the notification.
SELECT pg_notify('cronwork_changes', %s)
