-- A booking names its person by the userId the client sent, in the row itself. A users row per
-- person cost the relay an upsert (a heap row and two index entries, more than the booking's
-- own insert) for a table nothing needs: mails go to each booking's own address (010), and
-- reconcile and recovery only ever read the external id back.
ALTER TABLE bookings ADD COLUMN user_ref text;
UPDATE bookings b SET user_ref = u.external_id FROM users u WHERE u.id = b.user_id;
ALTER TABLE bookings ALTER COLUMN user_ref SET NOT NULL, DROP COLUMN user_id;
DROP TABLE users;
