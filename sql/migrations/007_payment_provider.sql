-- A provider's event ids are unique only within that provider: the key is the pair. The
-- provider column names the adapter whose webhook carried the fact; the mock gateway speaks
-- through the Stripe adapter, so its facts are Stripe's.
UPDATE payments SET provider = 'stripe' WHERE provider = 'mock';
ALTER TABLE payments DROP CONSTRAINT payments_provider_event_id_key;
ALTER TABLE payments ADD CONSTRAINT payments_provider_event UNIQUE (provider, provider_event_id);
