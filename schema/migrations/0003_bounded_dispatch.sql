-- 0003_bounded_dispatch: activity tasks the scheduler does not hold in memory.
--
-- The scheduler keeps at most --max-held-activities tasks in memory (in
-- flight or waiting for a retry delay). Tasks beyond that stay only here,
-- parked, and are fetched in id order as capacity frees up, so a backlog of
-- any size costs PostgreSQL rows, not scheduler memory.
ALTER TABLE baton_tasks ADD COLUMN parked boolean NOT NULL DEFAULT false;
CREATE INDEX baton_tasks_parked ON baton_tasks (partition, id) WHERE parked;
