#!/usr/bin/env python3
"""Checks the Grafana dashboards against the data source, a real /metrics and real Prometheus.

    check.py METRICS_FILE RULES_OUT [PROMETHEUS_URL ...]

Every dashboard parses, has a unique uid, and every panel and query names the provisioned
data source; every query's meshbench metric is in METRICS_FILE (a /metrics scraped while a
benchmark runs); and every query, with the dashboard variables filled in, is written to
RULES_OUT as a recording rule so `promtool check rules` parses the PromQL.

Each PROMETHEUS_URL is a Prometheus scraping that server while benchmarks run (one with
native histograms on, one without): every query must give a non-empty answer from each
within DEADLINE seconds, and every rule it loaded must evaluate without error.
"""
import json
import pathlib
import re
import sys
import time
import urllib.parse
import urllib.request

import yaml  # PyYAML, Debian's python3-yaml

here = pathlib.Path(__file__).resolve().parent
metrics_file, rules_out, prometheus_urls = sys.argv[1], sys.argv[2], sys.argv[3:]
DEADLINE = 40
exposition = pathlib.Path(metrics_file).read_text()
exported = {line.split("{")[0].split(" ")[0] for line in exposition.splitlines() if line and not line.startswith("#")}
# A histogram's own name is what native-histogram queries read.
exported |= {line.split()[2] for line in exposition.splitlines() if line.startswith("# TYPE ")}

sources = yaml.safe_load((here / "provisioning/datasources/meshbench.yml").read_text())
uid = sources["datasources"][0]["uid"]
# Grafana's own variables, and the dashboards', as a query would run.
fill = {"$__rate_interval": "1m", "$__range": "1h", "$__interval": "15s"}

problems, rules, uids, runnable = [], [], set(), []
for path in sorted((here / "dashboards").glob("*.json")):
    board = json.loads(path.read_text())
    if board["uid"] in uids:
        problems.append(f"{path.name}: uid {board['uid']} is used twice")
    uids.add(board["uid"])
    names = [v["name"] for v in board.get("templating", {}).get("list", [])]
    queries = [(v["name"], v["query"]["query"]) for v in board.get("templating", {}).get("list", [])]
    for panel in board["panels"]:
        if panel.get("datasource", {}).get("uid") != uid:
            problems.append(f"{path.name}: panel {panel['title']!r} does not use data source {uid}")
        for target in panel.get("targets", []):
            if target.get("datasource", {}).get("uid") != uid:
                problems.append(f"{path.name}: a query of {panel['title']!r} does not use {uid}")
            queries.append((panel["title"], target["expr"]))
    for where, expr in queries:
        for metric in sorted(set(re.findall(r"\bmeshbench_[a-z_]+", expr))):
            if metric not in exported:
                problems.append(f"{path.name}: {where!r} reads {metric}, which /metrics does not export")
        if expr.startswith("label_values("):
            continue
        for key, value in fill.items():
            expr = expr.replace(key, value)
        for name in names:
            expr = expr.replace(f"${name}", ".*")
        rules.append({"record": f"dashboard:check_{len(rules)}", "expr": expr})
        runnable.append((f"{path.name}: {where!r}", expr))

pathlib.Path(rules_out).write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))


def api(base, path, **params):
    url = f"{base}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as answer:
        body = json.load(answer)
    if body.get("status") != "success":
        raise RuntimeError(f"{url}: {body}")
    return body["data"]


for base in prometheus_urls:
    waiting, errors = dict(runnable), {}
    deadline = time.monotonic() + DEADLINE
    while True:
        for where, expr in list(waiting.items()):
            try:
                if api(base, "query", query=expr)["result"]:
                    del waiting[where]
                    errors.pop(where, None)
            except Exception as error:  # noqa: BLE001 - reported below if it lasts
                errors[where] = error
        if not waiting or time.monotonic() > deadline:
            break
        time.sleep(1)
    for where, expr in waiting.items():
        why = f" ({errors[where]})" if where in errors else ""
        problems.append(f"{base}: {where} gives nothing after {DEADLINE} s{why}: {expr}")
    for group in api(base, "rules")["groups"]:
        for rule in group["rules"]:
            if rule.get("health") != "ok":
                problems.append(f"{base}: rule {rule['name']} is {rule.get('health')}: {rule.get('lastError')}")
    native = "native-histograms" in api(base, "status/flags").get("enable-feature", "")
    features = "native histograms" if native else "classic histograms"
    # Which half of each latency query answered: the native one reads series that hold
    # histograms (scraped as protobuf), the classic one `_bucket` series (scraped as text).
    histograms = [s for s in api(base, "query", query="meshbench_run_latency_seconds")["result"] if "histogram" in s]
    buckets = api(base, "query", query="meshbench_run_latency_seconds_bucket")["result"]
    if native and (not histograms or buckets):
        problems.append(f"{base}: {len(histograms)} native run latency series and {len(buckets)} classic buckets")
    if not native and (histograms or not buckets):
        problems.append(f"{base}: classic, but {len(histograms)} native series and {len(buckets)} buckets")
    print(f"{base} ({features}): {len(runnable) - len(waiting)} of {len(runnable)} queries answer", file=sys.stderr)

if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"{len(uids)} dashboards, {len(rules)} queries: every metric exported", file=sys.stderr)
