-- The start request of an eBPF probe run (its filters: ports, pid, cgroup, namespace, pod
-- filter…) as JSON text, like benchmark_jobs.request (TEXT, not JSONB: stored and returned
-- whole, never queried inside). NULL for runs stored before it.
ALTER TABLE ebpf_probe_jobs ADD COLUMN request TEXT;
