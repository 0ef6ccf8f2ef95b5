#!/usr/bin/env python3
"""Checks the Grafana dashboards against the data source and a real /metrics.

    check.py METRICS_FILE RULES_OUT

Every dashboard parses, has a unique uid, and every panel and query names the provisioned
data source; every query's meshbench metric is in METRICS_FILE (a /metrics scraped while a
benchmark runs); and every query, with the dashboard variables filled in, is written to
RULES_OUT as a recording rule so `promtool check rules` parses the PromQL.
"""
import json
import pathlib
import re
import sys

import yaml  # PyYAML, Debian's python3-yaml

here = pathlib.Path(__file__).resolve().parent
metrics_file, rules_out = sys.argv[1], sys.argv[2]
exposition = pathlib.Path(metrics_file).read_text()
exported = {line.split("{")[0].split(" ")[0] for line in exposition.splitlines() if line and not line.startswith("#")}

sources = yaml.safe_load((here / "provisioning/datasources/meshbench.yml").read_text())
uid = sources["datasources"][0]["uid"]
# Grafana's own variables, and the dashboards', as a query would run.
fill = {"$__rate_interval": "1m", "$__range": "1h", "$__interval": "15s"}

problems, rules, uids = [], [], set()
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

pathlib.Path(rules_out).write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"{len(uids)} dashboards, {len(rules)} queries: every metric exported", file=sys.stderr)
