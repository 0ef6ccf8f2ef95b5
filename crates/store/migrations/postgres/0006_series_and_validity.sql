-- Comparisons you can trust (issue 15); migrations/sqlite/0006 says what each column is for.
ALTER TABLE benchmark_jobs ADD COLUMN series_id TEXT NULL;
ALTER TABLE benchmark_jobs ADD COLUMN series_group TEXT NULL;
ALTER TABLE benchmark_jobs ADD COLUMN series_order BIGINT NULL;
ALTER TABLE benchmark_jobs ADD COLUMN config TEXT NOT NULL DEFAULT '';
ALTER TABLE benchmark_jobs ADD COLUMN invalid_reasons TEXT NULL;
CREATE INDEX benchmark_jobs_series ON benchmark_jobs (series_id);
CREATE INDEX benchmark_jobs_series_group ON benchmark_jobs (series_group, series_order);

UPDATE benchmark_jobs SET invalid_reasons = '["the load generator was the bottleneck"]'
WHERE job_id IN (SELECT job_id FROM benchmark_results
                 WHERE result LIKE '%"saturated":true%');
UPDATE benchmark_jobs SET invalid_reasons = '["more than 1 % of requests failed"]'
WHERE invalid_reasons IS NULL AND requests > 0 AND errors * 100 > requests;

CREATE TABLE overhead_cells (
    test_type   TEXT    NOT NULL,
    mesh_type   TEXT    NOT NULL,
    namespace   TEXT    NOT NULL,
    config      TEXT    NOT NULL,
    runs        BIGINT  NOT NULL,
    requests    BIGINT  NOT NULL,
    errors      BIGINT  NOT NULL,
    p50_sum DOUBLE PRECISION NOT NULL, p50_sq DOUBLE PRECISION NOT NULL,
    p50_min DOUBLE PRECISION NOT NULL, p50_max DOUBLE PRECISION NOT NULL,
    p90_sum DOUBLE PRECISION NOT NULL, p90_sq DOUBLE PRECISION NOT NULL,
    p90_min DOUBLE PRECISION NOT NULL, p90_max DOUBLE PRECISION NOT NULL,
    p99_sum DOUBLE PRECISION NOT NULL, p99_sq DOUBLE PRECISION NOT NULL,
    p99_min DOUBLE PRECISION NOT NULL, p99_max DOUBLE PRECISION NOT NULL,
    p999_sum DOUBLE PRECISION NOT NULL, p999_sq DOUBLE PRECISION NOT NULL,
    p999_min DOUBLE PRECISION NOT NULL, p999_max DOUBLE PRECISION NOT NULL,
    rps_sum DOUBLE PRECISION NOT NULL, rps_sq DOUBLE PRECISION NOT NULL,
    rps_min DOUBLE PRECISION NOT NULL, rps_max DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (test_type, mesh_type, namespace, config)
);

INSERT INTO overhead_cells
SELECT test_type, mesh_type, namespace, config, COUNT(*), SUM(requests), SUM(errors),
       SUM(p50_us), SUM(p50_us::float8 * p50_us), MIN(p50_us), MAX(p50_us),
       SUM(p90_us), SUM(p90_us::float8 * p90_us), MIN(p90_us), MAX(p90_us),
       SUM(p99_us), SUM(p99_us::float8 * p99_us), MIN(p99_us), MAX(p99_us),
       SUM(p999_us), SUM(p999_us::float8 * p999_us), MIN(p999_us), MAX(p999_us),
       SUM(rps), SUM(rps * rps), MIN(rps), MAX(rps)
FROM benchmark_jobs
WHERE status = 'completed' AND parent_id IS NULL AND requests IS NOT NULL
  AND invalid_reasons IS NULL
GROUP BY test_type, mesh_type, namespace, config;

CREATE FUNCTION overhead_cells_add() RETURNS trigger AS $$
BEGIN
    -- migrations/sqlite/0006 says when a run counts, and why min and max only grow.
    IF TG_OP = 'UPDATE' AND OLD.status = 'completed' AND OLD.parent_id IS NULL
       AND OLD.requests IS NOT NULL AND OLD.invalid_reasons IS NULL THEN
        UPDATE overhead_cells SET
            runs = runs - 1, requests = requests - OLD.requests, errors = errors - OLD.errors,
            p50_sum = p50_sum - OLD.p50_us, p50_sq = p50_sq - OLD.p50_us::float8 * OLD.p50_us,
            p90_sum = p90_sum - OLD.p90_us, p90_sq = p90_sq - OLD.p90_us::float8 * OLD.p90_us,
            p99_sum = p99_sum - OLD.p99_us, p99_sq = p99_sq - OLD.p99_us::float8 * OLD.p99_us,
            p999_sum = p999_sum - OLD.p999_us,
            p999_sq = p999_sq - OLD.p999_us::float8 * OLD.p999_us,
            rps_sum = rps_sum - OLD.rps, rps_sq = rps_sq - OLD.rps * OLD.rps
        WHERE test_type = OLD.test_type AND mesh_type = OLD.mesh_type
          AND namespace = OLD.namespace AND config = OLD.config;
        DELETE FROM overhead_cells WHERE runs <= 0
          AND test_type = OLD.test_type AND mesh_type = OLD.mesh_type
          AND namespace = OLD.namespace AND config = OLD.config;
    END IF;
    IF NEW.status = 'completed' AND NEW.parent_id IS NULL AND NEW.requests IS NOT NULL
       AND NEW.invalid_reasons IS NULL THEN
        INSERT INTO overhead_cells VALUES (
            NEW.test_type, NEW.mesh_type, NEW.namespace, NEW.config, 1, NEW.requests, NEW.errors,
            NEW.p50_us, NEW.p50_us::float8 * NEW.p50_us, NEW.p50_us, NEW.p50_us,
            NEW.p90_us, NEW.p90_us::float8 * NEW.p90_us, NEW.p90_us, NEW.p90_us,
            NEW.p99_us, NEW.p99_us::float8 * NEW.p99_us, NEW.p99_us, NEW.p99_us,
            NEW.p999_us, NEW.p999_us::float8 * NEW.p999_us, NEW.p999_us, NEW.p999_us,
            NEW.rps, NEW.rps * NEW.rps, NEW.rps, NEW.rps)
        ON CONFLICT (test_type, mesh_type, namespace, config) DO UPDATE SET
            runs = overhead_cells.runs + 1,
            requests = overhead_cells.requests + excluded.requests,
            errors = overhead_cells.errors + excluded.errors,
            p50_sum = overhead_cells.p50_sum + excluded.p50_sum,
            p50_sq = overhead_cells.p50_sq + excluded.p50_sq,
            p50_min = LEAST(overhead_cells.p50_min, excluded.p50_min),
            p50_max = GREATEST(overhead_cells.p50_max, excluded.p50_max),
            p90_sum = overhead_cells.p90_sum + excluded.p90_sum,
            p90_sq = overhead_cells.p90_sq + excluded.p90_sq,
            p90_min = LEAST(overhead_cells.p90_min, excluded.p90_min),
            p90_max = GREATEST(overhead_cells.p90_max, excluded.p90_max),
            p99_sum = overhead_cells.p99_sum + excluded.p99_sum,
            p99_sq = overhead_cells.p99_sq + excluded.p99_sq,
            p99_min = LEAST(overhead_cells.p99_min, excluded.p99_min),
            p99_max = GREATEST(overhead_cells.p99_max, excluded.p99_max),
            p999_sum = overhead_cells.p999_sum + excluded.p999_sum,
            p999_sq = overhead_cells.p999_sq + excluded.p999_sq,
            p999_min = LEAST(overhead_cells.p999_min, excluded.p999_min),
            p999_max = GREATEST(overhead_cells.p999_max, excluded.p999_max),
            rps_sum = overhead_cells.rps_sum + excluded.rps_sum,
            rps_sq = overhead_cells.rps_sq + excluded.rps_sq,
            rps_min = LEAST(overhead_cells.rps_min, excluded.rps_min),
            rps_max = GREATEST(overhead_cells.rps_max, excluded.rps_max);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER overhead_cells_on_update
    AFTER UPDATE OF status, requests, errors, rps, p50_us, p90_us, p99_us, p999_us,
        invalid_reasons, parent_id, config ON benchmark_jobs
    FOR EACH ROW EXECUTE FUNCTION overhead_cells_add();
CREATE TRIGGER overhead_cells_on_insert AFTER INSERT ON benchmark_jobs
    FOR EACH ROW EXECUTE FUNCTION overhead_cells_add();

-- Invalid runs per (test type, mesh, namespace), kept the same way (sqlite/0006 says why).
CREATE TABLE invalid_cells (
    test_type TEXT   NOT NULL,
    mesh_type TEXT   NOT NULL,
    namespace TEXT   NOT NULL,
    runs      BIGINT NOT NULL,
    PRIMARY KEY (test_type, mesh_type, namespace)
);

INSERT INTO invalid_cells
SELECT test_type, mesh_type, namespace, COUNT(*) FROM benchmark_jobs
WHERE benchmark_jobs.status = 'completed' AND benchmark_jobs.parent_id IS NULL AND benchmark_jobs.invalid_reasons IS NOT NULL
GROUP BY test_type, mesh_type, namespace;

CREATE FUNCTION invalid_cells_count() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = 'completed' AND OLD.parent_id IS NULL AND OLD.invalid_reasons IS NOT NULL THEN
        UPDATE invalid_cells SET runs = runs - 1
        WHERE test_type = OLD.test_type AND mesh_type = OLD.mesh_type
          AND namespace = OLD.namespace;
    END IF;
    IF NEW.status = 'completed' AND NEW.parent_id IS NULL AND NEW.invalid_reasons IS NOT NULL THEN
        INSERT INTO invalid_cells VALUES (NEW.test_type, NEW.mesh_type, NEW.namespace, 1)
        ON CONFLICT (test_type, mesh_type, namespace)
        DO UPDATE SET runs = invalid_cells.runs + 1;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER invalid_cells_on_update
    AFTER UPDATE OF status, parent_id, invalid_reasons ON benchmark_jobs
    FOR EACH ROW EXECUTE FUNCTION invalid_cells_count();
CREATE TRIGGER invalid_cells_on_insert AFTER INSERT ON benchmark_jobs
    FOR EACH ROW EXECUTE FUNCTION invalid_cells_count();
