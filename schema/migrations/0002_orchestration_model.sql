-- 0002_orchestration_model: timers, sub-orchestrations, continue-as-new, retries.

-- Continue-as-new starts a new execution in the same instance: its history
-- continues the seq numbering (so history_len never repeats and stays a safe
-- concurrency token) and the current execution's events are those with
-- seq >= execution_start_seq.
ALTER TABLE baton_instances ADD COLUMN execution_start_seq integer NOT NULL DEFAULT 0;
-- A sub-orchestration knows the event of its parent that created it.
ALTER TABLE baton_instances ADD COLUMN parent_event_id integer NOT NULL DEFAULT -1;
CREATE INDEX baton_instances_parent ON baton_instances (namespace, parent_instance_id)
  WHERE parent_instance_id <> '';

-- The inbox knows each event's type (control events, timers) and delays
-- timers through visible_at.
ALTER TABLE baton_inbox ADD COLUMN event_type smallint NOT NULL DEFAULT 0;
CREATE INDEX baton_inbox_future ON baton_inbox (partition, visible_at);

-- Retries: the policy and timeouts travel with the task (msgpack TaskOptions);
-- visible_at delays the next attempt; heartbeat_details reach it.
ALTER TABLE baton_tasks ADD COLUMN options bytea NOT NULL DEFAULT '';
ALTER TABLE baton_tasks ADD COLUMN visible_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE baton_tasks ADD COLUMN first_scheduled_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE baton_tasks ADD COLUMN heartbeat_details bytea NOT NULL DEFAULT '';
