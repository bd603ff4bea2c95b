-- Each booking keeps the address given with it; its mails go only there. users.email is no
-- longer where mails go: any booking naming the same userId could change it.
ALTER TABLE bookings ADD COLUMN email text NOT NULL DEFAULT '';
-- Bookings from before: the address their person had, the best there is (the relay's next
-- entry for a booking writes the address that came with it).
UPDATE bookings b SET email = u.email FROM users u WHERE u.id = b.user_id AND u.email IS NOT NULL;
