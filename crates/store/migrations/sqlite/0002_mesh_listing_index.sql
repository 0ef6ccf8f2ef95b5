-- Listing one mesh's jobs newest first (GET /benchmarks/jobs?mesh_type=…) walks this index
-- in order instead of sorting every job of that mesh.
CREATE INDEX benchmark_jobs_mesh_created_idx ON benchmark_jobs (mesh_type, created_at, job_id);
