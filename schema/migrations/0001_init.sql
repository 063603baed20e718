-- 0001_init: instances, history, inbox, activity task outbox, partition leases.
-- Forward-only. Applied by `baton-scheduler migrate`, recorded in baton_schema_migrations.

-- Partition leases: a scheduler replica owns a partition while it holds the
-- row (owner, epoch) and lease_expires_at is in the future. Every batch
-- transaction locks the rows of the partitions it touches FOR SHARE with the
-- owner and epoch it believes it holds; a replica that lost the lease gets
-- fewer rows back and rolls back (fencing).
CREATE TABLE baton_partitions (
  partition         integer PRIMARY KEY,
  owner             text        NOT NULL DEFAULT '',
  epoch             bigint      NOT NULL DEFAULT 0,
  lease_expires_at  timestamptz NOT NULL DEFAULT 'epoch'
);
INSERT INTO baton_partitions (partition) SELECT generate_series(0, 15);
CREATE SEQUENCE baton_epoch_seq;

-- One row per orchestration instance (the latest execution).
CREATE TABLE baton_instances (
  namespace           text        NOT NULL,
  instance_id         text        NOT NULL,
  partition           integer     NOT NULL,
  name                text        NOT NULL,
  task_queue          text        NOT NULL,
  status              smallint    NOT NULL,   -- baton::OrchestrationStatus
  input               bytea       NOT NULL,
  output              bytea       NOT NULL DEFAULT '',
  custom_status       bytea       NOT NULL DEFAULT '',
  failure             bytea       NOT NULL DEFAULT '',  -- msgpack FailureDetails, empty if none
  history_len         integer     NOT NULL DEFAULT 0,   -- optimistic-concurrency token for steps
  parent_instance_id  text        NOT NULL DEFAULT '',
  created_at          timestamptz NOT NULL,
  updated_at          timestamptz NOT NULL,
  completed_at        timestamptz,
  PRIMARY KEY (namespace, instance_id)
);
CREATE INDEX baton_instances_status ON baton_instances (namespace, status, created_at);

-- The event history, append-only, one msgpack HistoryEvent per row.
CREATE TABLE baton_history (
  namespace    text     NOT NULL,
  instance_id  text     NOT NULL,
  seq          integer  NOT NULL,
  event_type   smallint NOT NULL,   -- baton::EventType, for SQL inspection
  event        bytea    NOT NULL,
  PRIMARY KEY (namespace, instance_id, seq)
);

-- New events not yet consumed by an orchestrator step.
CREATE TABLE baton_inbox (
  id           bigserial   PRIMARY KEY,
  namespace    text        NOT NULL,
  instance_id  text        NOT NULL,
  partition    integer     NOT NULL,
  event        bytea       NOT NULL,
  visible_at   timestamptz NOT NULL DEFAULT now(),
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX baton_inbox_instance ON baton_inbox (namespace, instance_id);
CREATE INDEX baton_inbox_partition ON baton_inbox (partition);

-- Activity task outbox. A row exists from the step that scheduled the task
-- until its result is recorded; it is dispatched only after it committed.
-- (lease_owner, lease_expires_at, attempt) is the lease of the current attempt.
CREATE TABLE baton_tasks (
  id                 bigserial   PRIMARY KEY,
  namespace          text        NOT NULL,
  instance_id        text        NOT NULL,
  partition          integer     NOT NULL,
  task_queue         text        NOT NULL,
  name               text        NOT NULL,
  task_scheduled_id  integer     NOT NULL,
  input              bytea       NOT NULL,
  attempt            integer     NOT NULL DEFAULT 1,
  lease_owner        text        NOT NULL,
  lease_expires_at   timestamptz NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX baton_tasks_partition ON baton_tasks (partition);
CREATE INDEX baton_tasks_instance ON baton_tasks (namespace, instance_id);
