-- How long a hold lasts, per event (pretix holds carts 30 minutes, alf.io 25, Hi.Events 15).
-- 0 means the engine's HOLD_SECONDS.
ALTER TABLE events ADD COLUMN hold_seconds integer NOT NULL DEFAULT 0 CHECK (hold_seconds BETWEEN 0 AND 86400);
