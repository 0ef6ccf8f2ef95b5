-- A run split over several load generators is one job the user sees (parent_id NULL) and
-- one job per generator (parent_id = the run's job_id), each with the whole lifecycle.
-- Listings, counts and statistics read parent_id IS NULL only.
ALTER TABLE benchmark_jobs ADD COLUMN parent_id TEXT NULL;
CREATE INDEX benchmark_jobs_parent ON benchmark_jobs (parent_id);
