-- 0005_lookup_plans: keep every lookup by (namespace, instance_id) on the
-- primary key.
--
-- 0004's listing index (namespace, created_at, instance_id) could answer
-- `namespace = $ns AND instance_id = $id` inside the index, so before the
-- table's first ANALYZE the planner costed it the same as the primary key
-- and picked it for the scheduler's batched lookups: each probe then walked
-- every entry of the namespace, and throughput fell run over run as the
-- table grew (make bench: 531, 306, 182 orchestrations/s). Without
-- instance_id in it, a lookup through this index needs a heap visit per
-- entry and always costs more than the primary key. Listing still pages in
-- (created_at, instance_id) order: ties on created_at are rare and sorted.
DROP INDEX baton_instances_created;
CREATE INDEX baton_instances_created_at ON baton_instances (namespace, created_at);

-- Steps update status, history_len and the payload columns of hot rows;
-- free space on each page lets those updates stay HOT (no new index entries).
ALTER TABLE baton_instances SET (fillfactor = 80);
