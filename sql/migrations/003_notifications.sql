-- Notifications: each row is the claim on one email (booking_id, kind). A worker claims it
-- (status sending), sends, then marks it sent; a retry that finds it sent or sending never
-- sends again. failed = the SMTP server refused it, so the next attempt may send.
ALTER TABLE notifications
  ADD COLUMN attempts   integer NOT NULL DEFAULT 0,
  ADD COLUMN error      text NOT NULL DEFAULT '',
  ADD COLUMN message_id text,
  ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

CREATE INDEX notifications_status ON notifications (status, updated_at) WHERE status <> 'sent';
