-- cronwork PostgreSQL schema version 2: notification targets and the note a pause was given.
-- notify is a JSON list of {"url": ..., "on": [...]}; pause_note is shown until resumed.
ALTER TABLE jobs ADD COLUMN notify text NOT NULL DEFAULT '[]';
ALTER TABLE jobs ADD COLUMN pause_note text;
