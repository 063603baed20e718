-- 0007_key_only_lookups: only the primary key can answer a lookup of
-- baton_instances by (namespace, instance_id).
--
-- The pipelined batch (0006) plans its statements once per connection
-- (generic plans) instead of once per batch: planning the step UPDATE alone
-- cost about a quarter of a millisecond per batch. But a generic plan made
-- before the table's first ANALYZE costs every index on `namespace` the same
-- as the primary key for `namespace = $ns AND instance_id = $id`, and may
-- pick the listing index (namespace, created_at) to walk a whole namespace
-- per lookup (0005 met the same tie with custom plans).
--
-- The two listing indexes become partial on a condition that is always true
-- (created_at is NOT NULL), which a lookup by key does not state, so the
-- planner cannot use them for it; the listing and purge queries state it.
DROP INDEX baton_instances_created_at;
CREATE INDEX baton_instances_created_at ON baton_instances (namespace, created_at)
  WHERE created_at IS NOT NULL;
DROP INDEX baton_instances_status;
CREATE INDEX baton_instances_status ON baton_instances (namespace, status, created_at)
  WHERE created_at IS NOT NULL;
