-- cronwork schema version 2: notification targets and the note a pause was given.
-- notify is a JSON list of {"url": ..., "on": [...]}; pause_note is shown until resumed.
ALTER TABLE jobs ADD COLUMN notify TEXT NOT NULL DEFAULT '[]';
ALTER TABLE jobs ADD COLUMN pause_note TEXT;
