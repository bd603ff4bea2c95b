-- Anti-bot: an event may ask each booking for a proof-of-work (hashcash-style: a SHA-256
-- with this many leading zero bits). 0 means no proof is asked.
ALTER TABLE events ADD COLUMN pow_bits integer NOT NULL DEFAULT 0 CHECK (pow_bits BETWEEN 0 AND 28);
