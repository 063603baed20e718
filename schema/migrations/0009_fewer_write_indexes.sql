-- 0009_fewer_write_indexes: two indexes every activity task or inbox event
-- paid for on insert, and no query needed.
--
-- baton_inbox_partition (partition) is a prefix of baton_inbox_future
-- (partition, visible_at), which serves every lookup of the inbox by
-- partition. baton_tasks_partition (partition) served only recovery, which
-- parks every task of the partitions it takes (a sequential scan is as good
-- for that); the parked tasks are fetched through baton_tasks_parked.
DROP INDEX baton_inbox_partition;
DROP INDEX baton_tasks_partition;
