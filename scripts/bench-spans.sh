#!/usr/bin/env bash
# Span ingest and host memory (issue 23: "ingesting 100k spans: host memory
# bounded"). Each node run exports SPANS spans of its own (OTLP/JSON to the
# receiver its environment names, in posts of 500, as an instrumented agent
# does); batches of 10 and 100 node runs ingest 10,000 and 100,000 spans,
# and a third batch of 100 node runs exports none. Spans travel back with
# their node run's result and are written with it, so peak memory should
# follow what is in flight — flat from 10k to 100k spans, about the
# no-span batch's plus the in-flight runs' spans.
#
# Usage: scripts/bench-spans.sh [wtb binary] (make bench calls it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
wtb=${1:-$root/bin/wtb}
export WTB_PLUGIN_PATH="$root/bin/plugins"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat >"$work/agent.py" <<'PY'
import json, os, sys, urllib.request
sys.stdin.read()
n = int(os.environ["SPANS"])
_, trace, parent, _ = os.environ["TRACEPARENT"].split("-")
url = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
t0 = 1_700_000_000_000_000_000
for first in range(0, n, 500):
    spans = [{"traceId": trace, "spanId": "%016x" % (i + 1), "parentSpanId": parent,
              "name": "execute_tool lookup", "kind": 1,
              "startTimeUnixNano": str(t0 + i * 1000), "endTimeUnixNano": str(t0 + i * 1000 + 500),
              "attributes": [{"key": "gen_ai.tool.name", "value": {"stringValue": "lookup"}},
                             {"key": "gen_ai.tool.call.arguments", "value": {"stringValue": json.dumps({"q": "x" * 64, "i": i})}}]}
             for i in range(first, min(n, first + 500))]
    body = json.dumps({"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "agent"}}]},
                                          "scopeSpans": [{"scope": {"name": "bench"}, "spans": spans}]}]}).encode()
    urllib.request.urlopen(urllib.request.Request(url, body, {"Content-Type": "application/json"})).read()
print(json.dumps({"spans": n}))
PY

bench() { # file cases spans
  python3 - "$@" <<'PY'
import sys
path, n, spans = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cases = "\n".join(f'  case "c{i}" {{ input = {{ q = {i} }} }}' for i in range(n))
open(path, "w").write(f'''
runner "pool" {{
  plugin      = "pool"
  max_workers = 8
}}
workflow "w" {{
  node "agent" {{
    command = ["python3", "agent.py"]
    env     = {{ SPANS = "{spans}" }}
  }}
}}
batch_test "spans" {{
  workflow    = workflow.w
  runner      = runner.pool
  max_pending = 8
{cases}
}}
''')
PY
}

# peak.py CMD...: runs CMD and prints "wall_s host_peak_kib plugins_peak_kib":
# the host's VmHWM and the largest of its descendants' (the runner plugin, the
# nodes), read from /proc every 50 ms while they live.
cat >"$work/peak.py" <<'PY'
import os, subprocess, sys, time
def hwm(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out
start = time.monotonic()
p = subprocess.Popen(sys.argv[1:], stdout=open("out", "w"), stderr=open("err", "w"))
host = others = 0
while p.poll() is None:
    host = max(host, hwm(p.pid))
    todo, seen = children(p.pid), set()
    while todo:
        c = todo.pop()
        if c not in seen:
            seen.add(c)
            others = max(others, hwm(c))
            todo += children(c)
    time.sleep(0.05)
print(f"{time.monotonic() - start:.1f} {host} {others}")
sys.exit(p.returncode)
PY

printf "%-30s %12s %16s %18s %8s\n" batch "spans stored" "host peak MiB" "plugin peak MiB" "wall s"
for row in "10 1000" "100 1000" "300 1000" "100 0"; do
  read -r n s <<<"$row"
  bench "$work/bench.hcl" "$n" "$s"
  rm -f "$work/spans.db"*
  read -r wall host others < <(cd "$work" && python3 peak.py "$wtb" --db "sqlite://$work/spans.db" run bench.hcl --no-progress --format csv) ||
    { cat "$work/err" >&2; exit 1; }
  stored=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select coalesce(sum(json_array_length(spans)),0) from wtb_spans').fetchone()[0])" "$work/spans.db")
  printf "%-30s %12s %16d %18d %8.1f\n" "$n node runs x $s spans" "$stored" "$((host / 1024))" "$((others / 1024))" "$wall"
  echo "$n $s $host" >>"$work/rss"
done
awk '{ r[NR] = $3 } END { printf "host peak, 100k spans / 10k: %.2fx; 300k / 100k: %.2fx; 100k spans / none: %.2fx\n", r[2] / r[1], r[3] / r[2], r[2] / r[4] }' "$work/rss"
echo "(spans stored counts every span in wtb_spans, the node runs' own WTB spans included)"
