-- What a booking row costs the relay to write. Every query of bookings names its event (the
-- (event_id, arrival_seq) index serves it) or its id; none reads by (event_id, status) or by
-- user_id, so those two indexes only made each write dearer. With no index on a column the
-- relay changes, a change of state is a HOT update (no index entry), given room on the page:
-- half of each page is kept for the next versions of its rows (a booking changes once or twice,
-- and a sale that ends turns its whole line to expired at once).
DROP INDEX bookings_event_status;
DROP INDEX bookings_user;
ALTER TABLE bookings SET (fillfactor = 50);

-- The relay is the only writer of bookings: it inserts a booking's person in the same
-- transaction, and the event's relay offset (which references the event) is locked while it
-- writes. A foreign key checked again per row (and locking the person's row) guarded nothing more.
ALTER TABLE bookings DROP CONSTRAINT bookings_event_id_fkey, DROP CONSTRAINT bookings_user_id_fkey;
