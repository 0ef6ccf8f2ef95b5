-- meshbench store schema, PostgreSQL flavour. migrations/sqlite/0001_init.sql creates the
-- same logical schema; keep the two in step. Timestamps are integer nanoseconds since the
-- Unix epoch (UTC) in both databases.

-- One row per benchmark job. The summary columns (requests … max_us) stay NULL until a
-- result is saved; the full result lives in benchmark_results so listings never read it.
CREATE TABLE benchmark_jobs (
    job_id       TEXT             NOT NULL PRIMARY KEY,
    status       TEXT             NOT NULL
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    test_type    TEXT             NOT NULL,
    mesh_type    TEXT             NOT NULL,
    namespace    TEXT             NOT NULL,
    created_at   BIGINT           NOT NULL,
    started_at   BIGINT,
    completed_at BIGINT,
    progress     DOUBLE PRECISION NOT NULL DEFAULT 0,
    error        TEXT,
    request      TEXT             NOT NULL,
    attempts     INTEGER          NOT NULL DEFAULT 0,
    requests     BIGINT,
    errors       BIGINT,
    rps          DOUBLE PRECISION,
    p50_us       BIGINT,
    p90_us       BIGINT,
    p99_us       BIGINT,
    p999_us      BIGINT,
    max_us       BIGINT
);

-- Listing pages newest first (ORDER BY created_at DESC, job_id DESC), optionally narrowed
-- by status, namespace, mesh type and test type; /metrics/summary reads completed jobs.
CREATE INDEX benchmark_jobs_created_idx ON benchmark_jobs (created_at, job_id);
CREATE INDEX benchmark_jobs_status_idx ON benchmark_jobs (status, created_at);
CREATE INDEX benchmark_jobs_mesh_idx ON benchmark_jobs (mesh_type, test_type, status);
CREATE INDEX benchmark_jobs_namespace_idx ON benchmark_jobs (namespace, created_at);

-- The full result of a run (meshbench.result.v1 JSON: histograms, timeline). TEXT, not
-- JSONB: it is stored and returned whole, never queried inside.
CREATE TABLE benchmark_results (
    job_id   TEXT   NOT NULL PRIMARY KEY
        REFERENCES benchmark_jobs (job_id) ON DELETE CASCADE,
    result   TEXT   NOT NULL,
    saved_at BIGINT NOT NULL
);

-- eBPF latency probe runs.
CREATE TABLE ebpf_probe_jobs (
    probe_id      TEXT   NOT NULL PRIMARY KEY,
    status        TEXT   NOT NULL
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    duration      BIGINT NOT NULL,
    output_format TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    started_at    BIGINT,
    completed_at  BIGINT,
    error         TEXT,
    result        TEXT
);

CREATE INDEX ebpf_probe_jobs_created_idx ON ebpf_probe_jobs (created_at);

-- Generated reports; job_ids is a JSON array of job ids.
CREATE TABLE reports (
    report_id   TEXT   NOT NULL PRIMARY KEY,
    title       TEXT   NOT NULL,
    job_ids     TEXT   NOT NULL,
    format      TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    path        TEXT,
    share_token TEXT   UNIQUE
);

CREATE INDEX reports_created_idx ON reports (created_at);
