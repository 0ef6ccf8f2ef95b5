-- One lifecycle for every kind of job: a probe run is queued, leased, retried and cancelled
-- like a benchmark, so it gets the columns a benchmark job already had (attempts, progress),
-- and both get a cancel flag the worker reads with its progress update (the store, not the
-- queue, carries cancellation, so a cancel reaches a run whatever state the queue is in).
ALTER TABLE benchmark_jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ebpf_probe_jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ebpf_probe_jobs ADD COLUMN progress REAL NOT NULL DEFAULT 0;
ALTER TABLE ebpf_probe_jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;

-- The reconciler and GET /ebpf/probe/status read runs by status.
CREATE INDEX ebpf_probe_jobs_status_idx ON ebpf_probe_jobs (status, created_at);

-- Idempotency keys of start requests: the first start with a key stores its jobs and the
-- key in one transaction; a retry with the same key gets those jobs back (job_ids, a JSON
-- array) instead of starting more.
CREATE TABLE idempotency_keys (
    kind       TEXT   NOT NULL,
    key        TEXT   NOT NULL,
    job_ids    TEXT   NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (kind, key)
);
