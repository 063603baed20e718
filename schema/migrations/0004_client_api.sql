-- 0004_client_api: idempotent starts, listing and purging.
--
-- idempotency_key: the key of the start that created the current execution;
-- a start retried with the same key succeeds instead of failing as a
-- duplicate (empty: none).
ALTER TABLE baton_instances ADD COLUMN idempotency_key text NOT NULL DEFAULT '';
-- Listing pages through a namespace in (created_at, instance_id) order.
CREATE INDEX baton_instances_created ON baton_instances (namespace, created_at, instance_id);
