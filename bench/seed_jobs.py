"""Seeds N completed benchmark jobs (with stored results) into a meshbench store, for the
API benchmark. SQLite: writes the file directly. PostgreSQL: prints SQL for psql."""
import json
import random
import sqlite3
import sys
import time
import uuid

kind, target, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
meshes = ["baseline", "istio", "linkerd", "cilium"]
now = time.time_ns()
# A result of realistic size (a few kB: the timeline and histograms dominate real ones).
result = json.dumps({"schema": "meshbench.result.v1", "timeline": [{"second": s, "requests": 1000} for s in range(60)],
                     "histogram": "HISTF" + "A" * 3000})
request = json.dumps({"test_type": "http", "mesh_type": "baseline", "duration": 60})
rows = []
for i in range(count):
    mesh = meshes[i % len(meshes)]
    p50 = random.randint(800, 1200) + (0 if mesh == "baseline" else 300)
    created = now - (count - i) * 1_000_000_000
    rows.append((str(uuid.uuid4()), "completed", "http", mesh, "default", created, created + 1_000_000, created + 61_000_000_000,
                 1.0, None, request, 1, 60000, 0, 1000.0, p50, p50 * 2, p50 * 3, p50 * 5, p50 * 8))
cols = ("job_id, status, test_type, mesh_type, namespace, created_at, started_at, completed_at, progress, error, request, "
        "attempts, requests, errors, rps, p50_us, p90_us, p99_us, p999_us, max_us")
if kind == "sqlite":
    db = sqlite3.connect(target)
    db.executemany(f"INSERT INTO benchmark_jobs ({cols}) VALUES ({','.join('?' * 20)})", rows)
    db.executemany("INSERT INTO benchmark_results (job_id, result, saved_at) VALUES (?, ?, ?)",
                   [(r[0], result, r[7]) for r in rows])
    db.commit()
else:
    def lit(v):
        if v is None:
            return "NULL"
        if isinstance(v, str):
            return "'" + v.replace("'", "''") + "'"
        return str(v)
    out = sys.stdout
    out.write("BEGIN;\n")
    for r in rows:
        out.write(f"INSERT INTO benchmark_jobs ({cols}) VALUES ({', '.join(lit(v) for v in r)});\n")
        out.write(f"INSERT INTO benchmark_results (job_id, result, saved_at) VALUES ({lit(r[0])}, {lit(result)}, {r[7]});\n")
    out.write("COMMIT;\n")
