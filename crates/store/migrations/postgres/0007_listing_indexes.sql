-- Listings read runs (parent_id IS NULL) newest first. The index on parent_id of 0005 served
-- that filter for every row, so the planner (SQLite's, without statistics) chose it and
-- sorted all runs for every page: 1.4 s a page with 100,000 runs stored (bench/api.sh). The
-- parts of split runs are the only rows looked up by parent_id; runs get an index of their
-- own in listing order, which also counts them for x-total-count.
DROP INDEX benchmark_jobs_parent;
CREATE INDEX benchmark_jobs_parent ON benchmark_jobs (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX benchmark_jobs_runs_created ON benchmark_jobs (created_at, job_id)
    WHERE parent_id IS NULL;
-- One mesh's runs the same way (0002's index held parts too, so counting a mesh's runs for
-- x-total-count read every row of it for parent_id).
DROP INDEX benchmark_jobs_mesh_created_idx;
CREATE INDEX benchmark_jobs_runs_mesh ON benchmark_jobs (mesh_type, created_at, job_id)
    WHERE parent_id IS NULL;
