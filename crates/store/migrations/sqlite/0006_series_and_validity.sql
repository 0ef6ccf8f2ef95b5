-- Comparisons you can trust (issue 15).
--
-- A series is the repeats of one configuration (series_id); series started together to be
-- compared share a group (series_group) and run one at a time in series_order, interleaved.
-- config labels the settings that shape latency (connections, rate, protocol, payload), so
-- /metrics/summary compares meshes per configuration. invalid_reasons (a JSON array) is set
-- when a run's result is saved and it cannot be compared (saturated generator, missed rate,
-- errors, lost probe events); NULL is a valid run.
ALTER TABLE benchmark_jobs ADD COLUMN series_id TEXT NULL;
ALTER TABLE benchmark_jobs ADD COLUMN series_group TEXT NULL;
ALTER TABLE benchmark_jobs ADD COLUMN series_order INTEGER NULL;
ALTER TABLE benchmark_jobs ADD COLUMN config TEXT NOT NULL DEFAULT '';
ALTER TABLE benchmark_jobs ADD COLUMN invalid_reasons TEXT NULL;
CREATE INDEX benchmark_jobs_series ON benchmark_jobs (series_id);
CREATE INDEX benchmark_jobs_series_group ON benchmark_jobs (series_group, series_order);

-- Runs stored before validity was recorded: what their saved results say.
UPDATE benchmark_jobs SET invalid_reasons = '["the load generator was the bottleneck"]'
WHERE job_id IN (SELECT job_id FROM benchmark_results
                 WHERE json_valid(result) AND json_extract(result, '$.loadgen.saturated') = 1);
UPDATE benchmark_jobs SET invalid_reasons = '["more than 1 % of requests failed"]'
WHERE invalid_reasons IS NULL AND requests > 0 AND errors * 100 > requests;

-- Per (test type, mesh, namespace, configuration): the sums /metrics/summary needs, kept up
-- to date by the triggers below as valid runs complete, so the summary reads a few rows
-- however many jobs are stored. Runs are never deleted, so sums suffice (min and max too).
CREATE TABLE overhead_cells (
    test_type   TEXT    NOT NULL,
    mesh_type   TEXT    NOT NULL,
    namespace   TEXT    NOT NULL,
    config      TEXT    NOT NULL,
    runs        INTEGER NOT NULL,
    requests    INTEGER NOT NULL,
    errors      INTEGER NOT NULL,
    p50_sum REAL NOT NULL, p50_sq REAL NOT NULL, p50_min REAL NOT NULL, p50_max REAL NOT NULL,
    p90_sum REAL NOT NULL, p90_sq REAL NOT NULL, p90_min REAL NOT NULL, p90_max REAL NOT NULL,
    p99_sum REAL NOT NULL, p99_sq REAL NOT NULL, p99_min REAL NOT NULL, p99_max REAL NOT NULL,
    p999_sum REAL NOT NULL, p999_sq REAL NOT NULL, p999_min REAL NOT NULL, p999_max REAL NOT NULL,
    rps_sum REAL NOT NULL, rps_sq REAL NOT NULL, rps_min REAL NOT NULL, rps_max REAL NOT NULL,
    PRIMARY KEY (test_type, mesh_type, namespace, config)
) STRICT;

INSERT INTO overhead_cells
SELECT test_type, mesh_type, namespace, config, COUNT(*), SUM(requests), SUM(errors),
       SUM(p50_us), SUM(CAST(p50_us AS REAL) * p50_us), MIN(p50_us), MAX(p50_us),
       SUM(p90_us), SUM(CAST(p90_us AS REAL) * p90_us), MIN(p90_us), MAX(p90_us),
       SUM(p99_us), SUM(CAST(p99_us AS REAL) * p99_us), MIN(p99_us), MAX(p99_us),
       SUM(p999_us), SUM(CAST(p999_us AS REAL) * p999_us), MIN(p999_us), MAX(p999_us),
       SUM(rps), SUM(rps * rps), MIN(rps), MAX(rps)
FROM benchmark_jobs
WHERE status = 'completed' AND parent_id IS NULL AND requests IS NOT NULL
  AND invalid_reasons IS NULL
GROUP BY test_type, mesh_type, namespace, config;

-- A run counts once it is completed, valid, a user's run (not a split run's part) and has
-- its numbers: whichever of those changes last (status after the result, or a result saved
-- for a row already completed), the row's numbers are added then; a counted row that changes
-- (a result saved again, a run marked invalid) takes its old numbers out first. Minimum and
-- maximum cannot be taken out again: they span every run ever counted in the cell.
CREATE TRIGGER overhead_cells_remove
AFTER UPDATE OF status, requests, errors, rps, p50_us, p90_us, p99_us, p999_us, invalid_reasons, parent_id, config ON benchmark_jobs
WHEN OLD.status = 'completed' AND OLD.parent_id IS NULL AND OLD.requests IS NOT NULL AND OLD.invalid_reasons IS NULL
BEGIN
    UPDATE overhead_cells SET
        runs = runs - 1, requests = requests - OLD.requests, errors = errors - OLD.errors,
        p50_sum = p50_sum - OLD.p50_us, p50_sq = p50_sq - CAST(OLD.p50_us AS REAL) * OLD.p50_us,
        p90_sum = p90_sum - OLD.p90_us, p90_sq = p90_sq - CAST(OLD.p90_us AS REAL) * OLD.p90_us,
        p99_sum = p99_sum - OLD.p99_us, p99_sq = p99_sq - CAST(OLD.p99_us AS REAL) * OLD.p99_us,
        p999_sum = p999_sum - OLD.p999_us,
        p999_sq = p999_sq - CAST(OLD.p999_us AS REAL) * OLD.p999_us,
        rps_sum = rps_sum - OLD.rps, rps_sq = rps_sq - OLD.rps * OLD.rps
    WHERE test_type = OLD.test_type AND mesh_type = OLD.mesh_type
      AND namespace = OLD.namespace AND config = OLD.config;
    DELETE FROM overhead_cells WHERE runs <= 0
      AND test_type = OLD.test_type AND mesh_type = OLD.mesh_type
      AND namespace = OLD.namespace AND config = OLD.config;
END;

CREATE TRIGGER overhead_cells_add
AFTER UPDATE OF status, requests, errors, rps, p50_us, p90_us, p99_us, p999_us, invalid_reasons, parent_id, config ON benchmark_jobs
WHEN NEW.status = 'completed' AND NEW.parent_id IS NULL AND NEW.requests IS NOT NULL AND NEW.invalid_reasons IS NULL
BEGIN
    INSERT INTO overhead_cells VALUES (
        NEW.test_type, NEW.mesh_type, NEW.namespace, NEW.config, 1, NEW.requests, NEW.errors,
        NEW.p50_us, CAST(NEW.p50_us AS REAL) * NEW.p50_us, NEW.p50_us, NEW.p50_us,
        NEW.p90_us, CAST(NEW.p90_us AS REAL) * NEW.p90_us, NEW.p90_us, NEW.p90_us,
        NEW.p99_us, CAST(NEW.p99_us AS REAL) * NEW.p99_us, NEW.p99_us, NEW.p99_us,
        NEW.p999_us, CAST(NEW.p999_us AS REAL) * NEW.p999_us, NEW.p999_us, NEW.p999_us,
        NEW.rps, NEW.rps * NEW.rps, NEW.rps, NEW.rps)
    ON CONFLICT (test_type, mesh_type, namespace, config) DO UPDATE SET
        runs = runs + 1, requests = requests + excluded.requests, errors = errors + excluded.errors,
        p50_sum = p50_sum + excluded.p50_sum, p50_sq = p50_sq + excluded.p50_sq,
        p50_min = MIN(p50_min, excluded.p50_min), p50_max = MAX(p50_max, excluded.p50_max),
        p90_sum = p90_sum + excluded.p90_sum, p90_sq = p90_sq + excluded.p90_sq,
        p90_min = MIN(p90_min, excluded.p90_min), p90_max = MAX(p90_max, excluded.p90_max),
        p99_sum = p99_sum + excluded.p99_sum, p99_sq = p99_sq + excluded.p99_sq,
        p99_min = MIN(p99_min, excluded.p99_min), p99_max = MAX(p99_max, excluded.p99_max),
        p999_sum = p999_sum + excluded.p999_sum, p999_sq = p999_sq + excluded.p999_sq,
        p999_min = MIN(p999_min, excluded.p999_min), p999_max = MAX(p999_max, excluded.p999_max),
        rps_sum = rps_sum + excluded.rps_sum, rps_sq = rps_sq + excluded.rps_sq,
        rps_min = MIN(rps_min, excluded.rps_min), rps_max = MAX(rps_max, excluded.rps_max);
END;

-- Rows inserted already completed with their numbers (imports, bench/seed_jobs.py).
CREATE TRIGGER overhead_cells_on_insert
AFTER INSERT ON benchmark_jobs
WHEN NEW.status = 'completed' AND NEW.parent_id IS NULL AND NEW.requests IS NOT NULL AND NEW.invalid_reasons IS NULL
BEGIN
    INSERT INTO overhead_cells VALUES (
        NEW.test_type, NEW.mesh_type, NEW.namespace, NEW.config, 1, NEW.requests, NEW.errors,
        NEW.p50_us, CAST(NEW.p50_us AS REAL) * NEW.p50_us, NEW.p50_us, NEW.p50_us,
        NEW.p90_us, CAST(NEW.p90_us AS REAL) * NEW.p90_us, NEW.p90_us, NEW.p90_us,
        NEW.p99_us, CAST(NEW.p99_us AS REAL) * NEW.p99_us, NEW.p99_us, NEW.p99_us,
        NEW.p999_us, CAST(NEW.p999_us AS REAL) * NEW.p999_us, NEW.p999_us, NEW.p999_us,
        NEW.rps, NEW.rps * NEW.rps, NEW.rps, NEW.rps)
    ON CONFLICT (test_type, mesh_type, namespace, config) DO UPDATE SET
        runs = runs + 1, requests = requests + excluded.requests, errors = errors + excluded.errors,
        p50_sum = p50_sum + excluded.p50_sum, p50_sq = p50_sq + excluded.p50_sq,
        p50_min = MIN(p50_min, excluded.p50_min), p50_max = MAX(p50_max, excluded.p50_max),
        p90_sum = p90_sum + excluded.p90_sum, p90_sq = p90_sq + excluded.p90_sq,
        p90_min = MIN(p90_min, excluded.p90_min), p90_max = MAX(p90_max, excluded.p90_max),
        p99_sum = p99_sum + excluded.p99_sum, p99_sq = p99_sq + excluded.p99_sq,
        p99_min = MIN(p99_min, excluded.p99_min), p99_max = MAX(p99_max, excluded.p99_max),
        p999_sum = p999_sum + excluded.p999_sum, p999_sq = p999_sq + excluded.p999_sq,
        p999_min = MIN(p999_min, excluded.p999_min), p999_max = MAX(p999_max, excluded.p999_max),
        rps_sum = rps_sum + excluded.rps_sum, rps_sq = rps_sq + excluded.rps_sq,
        rps_min = MIN(rps_min, excluded.rps_min), rps_max = MAX(rps_max, excluded.rps_max);
END;

-- /metrics/summary also counts the invalid runs it left out, per (test type, mesh,
-- namespace); kept the same way, as a query over the rows would read them all.
CREATE TABLE invalid_cells (
    test_type TEXT    NOT NULL,
    mesh_type TEXT    NOT NULL,
    namespace TEXT    NOT NULL,
    runs      INTEGER NOT NULL,
    PRIMARY KEY (test_type, mesh_type, namespace)
) STRICT;

INSERT INTO invalid_cells
SELECT test_type, mesh_type, namespace, COUNT(*) FROM benchmark_jobs
WHERE benchmark_jobs.status = 'completed' AND benchmark_jobs.parent_id IS NULL AND benchmark_jobs.invalid_reasons IS NOT NULL
GROUP BY test_type, mesh_type, namespace;

CREATE TRIGGER invalid_cells_remove
AFTER UPDATE OF status, parent_id, invalid_reasons ON benchmark_jobs
WHEN OLD.status = 'completed' AND OLD.parent_id IS NULL AND OLD.invalid_reasons IS NOT NULL
BEGIN
    UPDATE invalid_cells SET runs = runs - 1
    WHERE test_type = OLD.test_type AND mesh_type = OLD.mesh_type AND namespace = OLD.namespace;
END;

CREATE TRIGGER invalid_cells_add
AFTER UPDATE OF status, parent_id, invalid_reasons ON benchmark_jobs
WHEN NEW.status = 'completed' AND NEW.parent_id IS NULL AND NEW.invalid_reasons IS NOT NULL
BEGIN
    INSERT INTO invalid_cells VALUES (NEW.test_type, NEW.mesh_type, NEW.namespace, 1)
    ON CONFLICT (test_type, mesh_type, namespace) DO UPDATE SET runs = runs + 1;
END;

CREATE TRIGGER invalid_cells_on_insert
AFTER INSERT ON benchmark_jobs
WHEN NEW.status = 'completed' AND NEW.parent_id IS NULL AND NEW.invalid_reasons IS NOT NULL
BEGIN
    INSERT INTO invalid_cells VALUES (NEW.test_type, NEW.mesh_type, NEW.namespace, 1)
    ON CONFLICT (test_type, mesh_type, namespace) DO UPDATE SET runs = runs + 1;
END;
