#!/usr/bin/env bash
# Benchmarks with figures (make bench). Runs on whatever machine it is given;
# the README's "Performance" section records one run. Every figure here is a
# measurement of this run; ratios compare against a baseline measured in the
# same run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
wtb="$root/bin/wtb"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export WTB_PLUGIN_PATH="$root/bin/plugins"

section() { echo; echo "## $*"; }
# elapsed_rss CMD...: runs CMD, prints "wall_s max_rss_kib" on fd 3.
measure() {
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/out" 2>"$work/err" || { cat "$work/err" >&2; return 1; }
  cat "$work/time"
}

# one_node_bench FILE NODE CASES MAX_PENDING: appends to FILE (which holds the
# runner blocks, "pool" among them) a workflow of one node "n" — NODE is its
# body — with variants a and b, and a batch of CASES cases on runner.pool;
# run_runner and the sections below switch the runner line.
one_node_bench() {
  python3 - "$@" <<'PY'
import sys
path, node, n, pending = sys.argv[1:]
cases = "\n".join(f'  case "c{i}" {{ input = {{ q = {i} }} }}' for i in range(int(n)))
open(path, "a").write(f'''
workflow "w" {{
  node "n" {{
    {node}
    variant "a" {{}}
    variant "b" {{ params = {{ b = 1 }} }}
  }}
}}
batch_test "t" {{
  workflow    = workflow.w
  runner      = runner.pool
  max_pending = {pending}
{cases}
}}
''')
PY
}

section "Plugin boundary (go test -bench, host/internal/pluginhost)"
go test -run '^$' -bench 'InProcess|Plugin' -benchtime 3s ./host/internal/pluginhost/ | grep -E '^Benchmark'

section "Viewer pages of a 100,000-execution batch, finished and running (go test -bench, host/internal/viewer)"
go test -run '^$' -bench Pages100k -benchtime 10x ./host/internal/viewer/ | grep -E '^Benchmark' | awk '{ printf "%-60s %10s ms/page\n", $1, $5 }'

section "The execution page of a node run with 2,000 spans, the receiver's bound (go test -bench, host/internal/viewer)"
go test -run '^$' -bench ExecutionPage2000Spans -benchtime 20x ./host/internal/viewer/ | grep -E '^Benchmark' | awk '{ printf "%-60s %10s ms/page %6s MB\n", $1, $7, $5 }'

section "Span ingest: peak host memory with 10k, 100k and 300k spans from node runs (scripts/bench-spans.sh)"
scripts/bench-spans.sh "$wtb"

section "The case × combination grid of 2 combinations × 10,000 cases × 5 repeats (100,000 executions; PostgreSQL with WTB_TEST_POSTGRES_URL)"
go test -run '^$' -bench Grid100k -benchtime 10x ./host/internal/viewer/ | grep -E '^Benchmark' | awk '{ printf "%-60s %10s ms/page\n", $1, $5 }'

section "Model-call gateway against a loopback upstream, straight vs through it (go test -bench, sdk/gateway)"
echo "(p50-µs per call one at a time; calls/s with 64 node runs in flight on 2 cores, client and upstream in the same"
echo " process; time to the first byte of a stream; heap growth passing 100 MiB of stream, live and recording into a 16 MiB limit)"
go test -run '^$' -bench . -benchtime 2s ./sdk/gateway | grep -E '^Benchmark'

if [ -n "${WTB_TEST_LLM_URL:-}" ]; then
  section "Replay vs live: the llm-agent example (40 cases, persistent workers) against LiteLLM with 200 ms per call"
  mkdir -p "$work/agent"
  python3 - "$work/agent" "$root/bin/plugins" "$root/examples/llm-agent/agent.py" <<'PY'
import sys
d, plugins, agent = sys.argv[1:]
b = open("examples/llm-agent/bench.hcl").read().replace('"agent.py"', f'"{agent}"')
b = b.replace('plugin_dir = "../../bin/plugins"', f'plugin_dir = "{plugins}"')
b = b.replace('cassettes = "cassettes"', 'cassettes = ""')
nl = chr(10)
for node in ("plan", "answer"):
    b = b.replace(f'"{agent}", "{node}"]', f'"{agent}", "{node}"]' + nl + '    worker { max = 2 }' + nl + '    params = { model = "slow-gpt" }')
b = b.replace('max_workers = 4', 'max_workers = 8')
open(f"{d}/bench.hcl", "w").write(b)
capitals = {"France": "Paris", "Japan": "Tokyo", "Kenya": "Nairobi", "Brazil": "Brasília"}
countries = list(capitals) * 10
lines = [f'{{"id": "c{i}", "input": {{"question": "What is the capital of {c}?"}}, "expected": {{"capital": "{capitals[c]}"}}}}' for i, c in enumerate(countries)]
open(f"{d}/cases.jsonl", "w").write(nl.join(lines) + nl)
PY
  agent_run() {
    OPENAI_API_KEY=$WTB_TEST_LLM_KEY measure "$wtb" --db "$work/agent/wtb.db" run "$work/agent/bench.hcl" --no-progress \
      --var python="$WTB_TEST_LLM_PYTHON" --var openai_url="$WTB_TEST_LLM_URL/v1" --var openai_ca="$WTB_TEST_LLM_CA" "$@"
  }
  read -r live _ < <(agent_run --model-calls record)
  grep -o '[0-9]* model calls ([^)]*)' "$work/err" || true
  read -r replay _ < <(agent_run --model-calls replay)
  grep -o '[0-9]* model calls ([^)]*)' "$work/err" || true
  echo "wall: live (recording) ${live}s, replay ${replay}s: $(python3 -c "print(f'{$live/$replay:.1f}x')") faster"
  python3 - "$work/agent/wtb.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
rows = c.execute("SELECT source, count(*), sum(duration_ms) FROM wtb_model_calls GROUP BY source").fetchall()
t = {src: (n, ms) for src, n, ms in rows}
(n, live), (_, replay) = t["recorded"], t["replayed"]
print(f"time in model calls: live {live/1000:.1f} s, replay {replay/1000:.3f} s ({live/replay:.0f}x) over {n} calls each;"
      " the rest of the wall time is the 8 Python workers importing the openai SDK (~1.3 s of CPU each) and the nodes' own work")
PY
fi

section "SQLite result writes, 100,000 rows, beside the raw driver (go test -bench, host/internal/store/sqlite)"
go test -run '^$' -bench 'WriteResults|RawDriver' -benchtime 100000x ./host/internal/store/sqlite/ | grep -E '^Benchmark' | tee "$work/sqlite-writes"
awk '/WriteResults/ { s = $5 } /RawDriver\/results/ { r = $5 } /RawDriver\/plain/ { p = $5 }
  END { printf "store / raw driver, same rows: %.0f%%   (raw driver, plain two-column rows: %.0f rows/s)\n", 100 * s / r, p }' "$work/sqlite-writes"

section "Scaling: 10k, 100k and 1M executions of the built-in merge node through wtb-runner-pool (SQLite)"
echo "(10 variants x 100 cases x repeat N; max_pending 256, 64 workers. Memory should follow what is in"
echo " flight, not what was planned: peak host RSS and executions/s should stay flat as the batch grows.)"
trivial() { # file executions
  python3 - "$1" "$2" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
variants = "\n".join(f'    variant "v{i}" {{ params = {{ v = {i} }} }}' for i in range(10))
cases = "\n".join(f'  case "c{i}" {{ input = {{ q = {i} }} }}' for i in range(100))
open(path, "w").write(f'''
runner "pool" {{
  plugin      = "pool"
  max_workers = 64
}}
workflow "trivial" {{
  node "only" {{
    kind   = "merge"
    params = {{ answer = "42" }}
{variants}
  }}
}}
batch_test "trivial" {{
  workflow    = workflow.trivial
  runner      = runner.pool
  repeat      = {n // 1000}
  max_pending = 256
{cases}
  evaluator "answer" {{
    type   = "equals"
    path   = "$.answer"
    expect = "42"
  }}
}}
''')
PY
}
printf "%-10s %14s %10s %14s %8s\n" executions "executions/s" "vs 10k" "peak RSS MiB" "wall s"
base=""
for n in ${WTB_BENCH_SIZES:-10000 100000 1000000}; do
  trivial "$work/trivial-$n.hcl" "$n"
  read -r wall rss < <(measure "$wtb" --db "sqlite://$work/trivial-$n.db" run "$work/trivial-$n.hcl" --no-progress --format csv)
  rate=$(grep -o '[0-9]* executions/s' "$work/err" | grep -o '^[0-9]*')
  base=${base:-$rate}
  awk -v n="$n" -v r="$rate" -v b="$base" -v m="$rss" -v w="$wall" \
    'BEGIN { printf "%-10d %14d %9.0f%% %14d %8.1f\n", n, r, 100 * r / b, m / 1024, w }'
  rm -f "$work/trivial-$n.db"*
done
echo "(executions/s is the scheduler's own figure, first dispatch to last stored result; wall adds"
echo " start-up, planning and the leaderboard over every stored result.)"

section "Metrics cost: 100,000 trivial executions without and with --metrics-addr (two runs each, alternating)"
trivial "$work/metrics.hcl" 100000
for i in 1 2; do
  for mode in off on; do
    extra=()
    [ "$mode" = on ] && extra=(--metrics-addr 127.0.0.1:0)
    rm -f "$work/metrics.db"*
    measure "$wtb" --db "sqlite://$work/metrics.db" run "$work/metrics.hcl" --no-progress --format csv "${extra[@]}" >/dev/null
    grep -o '[0-9]* executions/s' "$work/err" | grep -o '^[0-9]*' >>"$work/rate-$mode"
  done
done
awk 'FNR == 1 { f++ } f == 1 { off += $1; n++ } f == 2 { on += $1; m++ }
  END { printf "without: %.0f executions/s, with: %.0f executions/s, cost %.1f%%\n", off / n, on / m, 100 * (off / n - on / m) / (off / n) }' \
  "$work/rate-off" "$work/rate-on"

section "Trace export cost: 10,000 trivial executions without --otlp-endpoint, with it to a collector that only reads, and to a local Jaeger (interleaved rounds)"
# BenchmarkTraceExportCost (host/internal/e2e) runs the built binaries
# WTB_BENCH_ROUNDS times each way, reversing the order every other round,
# and reports for each collector the ratios with/without of the medians of
# wall time, executions/s and the host's CPU time (user + system of wtb and
# the plugins it reaped, from the kernel: far less noisy than wall time on a
# shared machine). The reading collector (in the test process) shows what
# the export costs the batch; Jaeger all-in-one (scripts/services.sh, built
# by scripts/install-deps.sh, or the one WTB_TEST_JAEGER_OTLP_URL names) is
# a real one, whose own ingest shares the cores (its CPU is reported when
# WTB_TEST_JAEGER_PID names it).
jaeger_state=""
if [ -z "${WTB_TEST_JAEGER_OTLP_URL:-}" ]; then
  jaeger_state="$work/jaeger-services"
  eval "$(WTB_SERVICES_STATE=$jaeger_state WTB_SERVICES=jaeger scripts/services.sh start)"
fi
[ -z "${WTB_TEST_JAEGER_OTLP_URL:-}" ] && echo "(no Jaeger: scripts/install-deps.sh builds it; the reading collector only)"
WTB_BENCH_ROUNDS=${WTB_BENCH_ROUNDS:-7} \
  go test -run '^$' -bench BenchmarkTraceExportCost -benchtime 1x ./host/internal/e2e |
  grep -E 'with/without|medians|without |reader |jaeger |own CPU' || true
[ -n "$jaeger_state" ] && WTB_SERVICES_STATE=$jaeger_state scripts/services.sh stop

section "Persistent workers: 2 variants × 50 cases × 4 nodes (sh, python3, sh, python3), 8 at a time"
export PYTHONPATH="$root/sdk/python${PYTHONPATH:+:$PYTHONPATH}"
# The interpreter itself, not a shim in front of it (pyenv's costs ~60 ms a
# start), the same for every contender.
py=$(python3 -c 'import sys; print(sys.executable)')
cat >"$work/step.sh" <<'SH'
#!/bin/sh
cat >/dev/null
echo "{\"$1\": 1}"
SH
cat >"$work/step.py" <<'PY'
import json, sys
from wtb_node import serve
name = sys.argv[1]
def run(req):
    return {name: len(json.dumps(req["state"])) + len(req["params"])}
serve(run)
PY
cat >"$work/heavy.py" <<'PY'
import time
time.sleep(0.3)  # stands in for importing a large framework
from wtb_node import serve
serve(lambda req: {"answer": 42})
PY
python3 - "$work" "$py" <<'PY'
import sys
w, py = sys.argv[1], sys.argv[2]
cases = "\n".join(f'  case "c{i}" {{ input = {{ q = {i} }} }}' for i in range(50))
def bench(worker):
    wl = "\n    worker = true" if worker else ""
    return f'''
runner "pool" {{
  plugin      = "pool"
  max_workers = 8
}}
workflow "w" {{
  node "s1" {{ command = ["sh", "{w}/step.sh", "s1"] }}
  node "p1" {{
    depends_on = ["s1"]
    command    = ["{py}", "{w}/step.py", "p1"]{wl}
  }}
  node "s2" {{
    depends_on = ["p1"]
    command    = ["sh", "{w}/step.sh", "s2"]
  }}
  node "p2" {{
    depends_on = ["s2"]
    command    = ["{py}", "{w}/step.py", "p2"]{wl}
    variant "terse" {{ params = {{ prompt = "Answer tersely." }} }}
    variant "verbose" {{ params = {{ prompt = "Explain your answer." }} }}
  }}
}}
batch_test "four" {{
  workflow    = workflow.w
  runner      = runner.pool
  max_pending = 16
{cases}
}}
'''
open(f"{w}/four-oneshot.hcl", "w").write(bench(False))
open(f"{w}/four-worker.hcl", "w").write(bench(True))
def heavy(worker):
    wl = "\n    worker  = true" if worker else ""
    return f'''
runner "pool" {{
  plugin      = "pool"
  max_workers = 8
}}
workflow "w" {{
  node "heavy" {{
    command = ["{py}", "{w}/heavy.py"]{wl}
  }}
}}
batch_test "heavy" {{
  workflow    = workflow.w
  runner      = runner.pool
  repeat      = 8
  max_pending = 16
{cases}
}}
'''
open(f"{w}/heavy-oneshot.hcl", "w").write(heavy(False))
open(f"{w}/heavy-worker.hcl", "w").write(heavy(True))
PY
# The same 400 node runs, one-shot, from a Python thread pool storing each
# execution's result with sqlite3: the loop a team writes by hand.
cat >"$work/loop.py" <<'PY'
import json, os, sqlite3, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
w = sys.argv[1]
db = sqlite3.connect(os.path.join(w, "loop.db"), check_same_thread=False)
db.execute("create table results (key text primary key, state text)")
env = dict(os.environ)
def node(cmd, state, params):
    p = subprocess.run(cmd, input=json.dumps({"state": state, "params": params}), capture_output=True, text=True, env=env, check=True)
    state.update(json.loads(p.stdout))
def execution(args):
    case, variant = args
    state = {"q": case}
    node(["sh", f"{w}/step.sh", "s1"], state, {})
    node([sys.executable, f"{w}/step.py", "p1"], state, {})
    node(["sh", f"{w}/step.sh", "s2"], state, {})
    node([sys.executable, f"{w}/step.py", "p2"], state, {"prompt": variant})
    return f"{variant}/{case}", json.dumps(state)
start = time.time()
with ThreadPoolExecutor(8) as pool:
    rows = list(pool.map(execution, [(c, v) for c in range(50) for v in ("terse", "verbose")]))
db.executemany("insert into results values (?, ?)", rows)
db.commit()
print(f"{time.time() - start:.2f}")
PY
read -r one _ < <(measure "$wtb" --db "sqlite://$work/four1.db" run "$work/four-oneshot.hcl" --no-progress --format csv)
read -r wk _ < <(measure "$wtb" --db "sqlite://$work/four2.db" run "$work/four-worker.hcl" --no-progress --format csv)
loop=$("$py" "$work/loop.py" "$work")
awk -v o="$one" -v k="$wk" -v l="$loop" 'BEGIN { printf "wtb one-shot: %.2fs   wtb, python nodes as workers: %.2fs   Python ThreadPool+subprocess+sqlite3 loop: %.2fs\nworkers / loop: %.2f (goal ≤ 0.5)   one-shot / loop: %.2f\n", o, k, l, k / l, o / l }'

section "A Python node that takes 300 ms to import: 400 executions, 8 at a time"
read -r hone _ < <(measure "$wtb" --db "sqlite://$work/heavy1.db" run "$work/heavy-oneshot.hcl" --no-progress --format csv)
read -r hwk _ < <(measure "$wtb" --db "sqlite://$work/heavy2.db" run "$work/heavy-worker.hcl" --no-progress --format csv)
awk -v o="$hone" -v k="$hwk" 'BEGIN { printf "one-shot: %.2fs   worker: %.2fs   %.1fx faster (goal ≥ 20x)\n", o, k, o / k }'

section "400 sh command executions with 8 workers vs xargs -P 8"
cat >"$work/step.sh" <<'SH'
#!/bin/sh
cat >/dev/null
echo '{"ok": true}'
SH
chmod +x "$work/step.sh"
python3 - "$work/sh.hcl" "$work/step.sh" <<'PY'
import sys
cases = "\n".join(f'  case "c{i}" {{ input = {{ q = {i} }} }}' for i in range(40))
variants = "\n".join(f'    variant "v{i}" {{ params = {{ v = {i} }} }}' for i in range(10))
open(sys.argv[1], "w").write(f'''
runner "pool" {{
  plugin      = "pool"
  max_workers = 8
}}
workflow "sh" {{
  node "step" {{
    command = ["sh", "{sys.argv[2]}"]
{variants}
  }}
}}
batch_test "sh-400" {{
  workflow = workflow.sh
  runner   = runner.pool
{cases}
}}
''')
PY
read -r wall _ < <(measure "$wtb" --db "sqlite://$work/sh.db" run "$work/sh.hcl" --no-progress --format csv)
echo "wtb:        ${wall}s"
read -r xwall _ < <(measure sh -c "seq 400 | xargs -P 8 -I{} sh -c 'echo {} | sh $work/step.sh >/dev/null'")
echo "xargs -P 8: ${xwall}s"
awk -v a="$wall" -v b="$xwall" 'BEGIN { printf "ratio wtb / xargs: %.2f\n", a / b }'

section "Prefix sharing and node cache: 3 nodes of 50 ms, 10 variants on the last, 20 cases"
cat >"$work/slow.sh" <<'SH'
#!/bin/sh
cat >/dev/null
sleep 0.05
echo "{\"$1\": 1}"
SH
python3 - "$work/share.hcl" "$work/slow.sh" <<'PY'
import sys
cases = "\n".join(f'  case "c{i}" {{ input = {{ q = {i} }} }}' for i in range(20))
variants = "\n".join(f'    variant "v{i}" {{ params = {{ v = {i} }} }}' for i in range(10))
node = lambda name, deps, extra="": f'''  node "{name}" {{
    command = ["sh", "{sys.argv[2]}", "{name}"]
    {deps}
{extra}
  }}'''
open(sys.argv[1], "w").write(f'''
variable "share" {{
  type    = bool
  default = true
}}
variable "cache" {{
  type    = bool
  default = false
}}
runner "pool" {{
  plugin      = "pool"
  max_workers = 8
}}
workflow "w" {{
{node("a", "")}
{node("b", 'depends_on = ["a"]')}
{node("c", 'depends_on = ["b"]', variants)}
}}
batch_test "share" {{
  workflow       = workflow.w
  runner         = runner.pool
  share_prefixes = var.share
  cache          = var.cache
  max_pending    = 64
{cases}
}}
''')
PY
run_share() {
  read -r wall _ < <(measure "$wtb" --db "sqlite://$work/share.db" run "$work/share.hcl" --no-progress --format csv "$@")
  runs=$(grep -o '[0-9]* node runs' "$work/err" | head -1)
  cached=$(grep -o '[0-9]* from cache' "$work/err" || echo "0 from cache")
  echo "$*: $runs, $cached, ${wall}s"
}
run_share --var share=false
run_share --var share=true
run_share --var share=true --var cache=true
run_share --var share=true --var cache=true
echo "(the last two: the first fills the node cache, the second reuses it)"

export WTB_SERVICES_STATE="$work/services"
eval "$(scripts/services.sh start 2>/dev/null)"
trap 'pkill -f "wtb-runner-temporal worker --address ${WTB_TEST_TEMPORAL_ADDRESS:-none}" || true; scripts/services.sh stop; rm -rf "$work"' EXIT

section "PostgreSQL result writes, 100,000 rows: bulk (COPY + INSERT ON CONFLICT) vs one INSERT per row, direct and through PgBouncer"
if [ -n "${WTB_TEST_POSTGRES_URL:-}" ]; then
  go test -run '^$' -bench 'WriteResults|RawCopy' -benchtime 100000x ./host/internal/store/postgres/ | grep -E '^Benchmark' | tee "$work/pg-writes"
  awk '/direct\/bulk/ { s = $5 } /RawCopy/ { r = $5 } END { printf "store (direct) / raw COPY into an unindexed table: %.0f%%\n", 100 * s / r }' "$work/pg-writes"
else
  echo "(skipped: no PostgreSQL; run as root or start one with scripts/services.sh)"
fi

section "PostgreSQL month partitions: schema 11 (unpartitioned) vs 12 (partitioned), same run (opt-in: WTB_BENCH_PARTITION_ROWS, e.g. 10000000)"
if [ -n "${WTB_TEST_POSTGRES_URL:-}" ] && [ -n "${WTB_BENCH_PARTITION_ROWS:-}" ]; then
  echo "(result rows over ten past months of ten batches; writes through the store; the viewer's store calls on one batch of a tenth of a month; gc of one month)"
  go test -run '^$' -bench 'Partitions' -benchtime 20x -timeout 60m ./host/internal/store/postgres/ | grep -E '^Benchmark'
else
  echo "(skipped: set WTB_BENCH_PARTITION_ROWS — 10,000,000 takes about 15 minutes to load twice on 2 cores — and run PostgreSQL)"
fi

temporal_bench() { # name node-kind (trivial: the built-in merge; else a 50 ms sh node)
  cat >"$work/$1.hcl" <<HCL
runner "pool" {
  plugin      = "pool"
  max_workers = 16
}
runner "cluster" {
  plugin     = "temporal"
  address    = "$WTB_TEST_TEMPORAL_ADDRESS"
  task_queue = "bench"
}
HCL
  local node='command = ["sh", "-c", "cat >/dev/null; sleep 0.05; echo {}"]'
  [ "$2" = trivial ] && node=$'kind = "merge"\n    params = { answer = "42" }'
  one_node_bench "$work/$1.hcl" "$node" 50 16
}
run_runner() { # file runner label
  sed "s/runner      = runner.pool/runner      = runner.$2/" "$work/$1.hcl" >"$work/$1-$2.hcl"
  "$wtb" --db "sqlite://$work/temporal.db" run "$work/$1-$2.hcl" --no-progress --format csv >/dev/null 2>"$work/err" || true
  printf '%-28s %s\n' "$3:" "$(grep -o '[0-9]* succeeded.*executions/s' "$work/err")"
}
start_worker() {
  "$root/bin/plugins/wtb-runner-temporal" worker --address "$WTB_TEST_TEMPORAL_ADDRESS" --task-queue bench \
    --worker-id "bench-$1" --max-concurrent 16 2>"$work/worker-$1.log" &
  sleep 1
}
section "Temporal runner vs pool: trivial node and 50 ms node, 1 and 2 workers"
if [ -z "${WTB_TEST_TEMPORAL_ADDRESS:-}" ]; then
  echo "(skipped: no Temporal dev server; scripts/install-deps.sh installs the CLI)"
else
for kind in trivial sleep50; do
  temporal_bench "$kind" "$kind"
  echo "-- $kind node, 100 executions, 16 in flight"
  run_runner "$kind" pool "pool"
  start_worker 1
  run_runner "$kind" cluster "temporal, 1 worker"
  start_worker 2
  run_runner "$kind" cluster "temporal, 2 workers"
  pkill -f "wtb-runner-temporal worker --address $WTB_TEST_TEMPORAL_ADDRESS" || true
  sleep 0.5
done
fi

section "External gRPC environment (runner-grpc -> reference server) vs pool"
export WTB_BENCH_TOKEN=bench-token
raddr="127.0.0.1:$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')"
WTB_REMOTE_TOKEN=$WTB_BENCH_TOKEN "$root/bin/examples/grpc-environment" --listen "$raddr" --max-concurrent 16 2>"$work/remote.log" &
remote_pid=$!
sleep 1
for kind in trivial sh; do
  cat >"$work/remote-$kind.hcl" <<HCL
runner "pool" {
  plugin      = "pool"
  max_workers = 16
}
runner "remote" {
  plugin         = "grpc"
  address        = "$raddr"
  token_env      = "WTB_BENCH_TOKEN"
  max_concurrent = 16
}
HCL
  node="command = [\"sh\", \"$work/step.sh\"]"
  [ "$kind" = trivial ] && node=$'kind = "merge"\n    params = { answer = "42" }'
  one_node_bench "$work/remote-$kind.hcl" "$node" 100 16
  echo "-- $kind node, 200 executions, 16 in flight"
  run_runner "remote-$kind" pool "pool"
  run_runner "remote-$kind" remote "runner-grpc"
done
kill "$remote_pid" 2>/dev/null || true

section "Ray runner vs pool vs a bare Ray ActorPool loop: trivial sh node (2,000 executions) and 50 ms sh node (400), 4 at a time"
echo "(4 actors of 0.5 CPU on the local head; the bare loop is scripts/ray_baseline.py, the same node"
echo " process per execution; steady = first to last stored result, without start-up; goal: ray >= 0.8x bare)"
if [ -z "${WTB_TEST_RAY_ADDRESS:-}" ] || [ -z "${WTB_TEST_RAY_PYTHON:-}" ]; then
  echo "(skipped: no Ray head; scripts/services.sh starts one after scripts/install-deps.sh)"
else
for sleep_s in 0 0.05; do
  n=$( [ "$sleep_s" = 0 ] && echo 2000 || echo 400 )
  cat >"$work/ray-$sleep_s.hcl" <<HCL
runner "pool" {
  plugin      = "pool"
  max_workers = 4
}
runner "ray" {
  plugin            = "ray"
  ray_address       = "$WTB_TEST_RAY_ADDRESS"
  python            = "$WTB_TEST_RAY_PYTHON"
  actors            = 4
  num_cpus_per_task = 0.5
  max_pending_tasks = 8
}
HCL
  # The same process the bare loop starts (scripts/ray_baseline.py).
  sleep_cmd=""
  [ "$sleep_s" = 0 ] || sleep_cmd="sleep $sleep_s; "
  node="command = [\"sh\", \"-c\", \"cat >/dev/null; ${sleep_cmd}echo '{\\\"ok\\\": true}'\"]"
  one_node_bench "$work/ray-$sleep_s.hcl" "$node" $((n / 2)) 8
  steady() { # db: executions/s from the first to the last stored result
    python3 - "$1" <<'PY'
import sqlite3, sys
from datetime import datetime
rows = sqlite3.connect(sys.argv[1]).execute(
    "select created_at from wtb_batch_test_results order by created_at").fetchall()
t = [datetime.fromisoformat(r[0].replace("Z", "+00:00")) for r in rows]
print(f"{(len(t) - 1) / max((t[-1] - t[0]).total_seconds(), 1e-9):.1f}")
PY
  }
  echo "-- $( [ "$sleep_s" = 0 ] && echo trivial || echo "50 ms") node"
  for r in pool ray; do
    rm -f "$work/ray-$r.db"
    sed "s/runner      = runner.pool/runner      = runner.$r/" "$work/ray-$sleep_s.hcl" >"$work/ray-$sleep_s-$r.hcl"
    read -r wall _ < <(measure "$wtb" --db "sqlite://$work/ray-$r.db" run "$work/ray-$sleep_s-$r.hcl" --no-progress)
    printf '%-22s steady %7s/s   wall %6ss (with start-up)\n' "wtb, $r:" "$(steady "$work/ray-$r.db")" "$wall"
    eval "rate_$r=$(steady "$work/ray-$r.db")"
  done
  read -r bare bwall < <("$WTB_TEST_RAY_PYTHON" scripts/ray_baseline.py "$WTB_TEST_RAY_ADDRESS" 4 0.5 "$n" "$sleep_s")
  printf '%-22s steady %7s/s   wall %6ss (with actor start-up)\n' "bare ActorPool:" "$bare" "$bwall"
  awk -v r="$rate_ray" -v b="$bare" -v p="$rate_pool" 'BEGIN { printf "wtb on Ray / bare ActorPool: %.2fx   wtb on Ray / wtb on the pool: %.2fx\n", r / b, r / p }'
done
fi

section "Spans of in-process Python nodes (wtb_plugin.spans), per node run"
pyenv=$(scripts/python-env.sh --path)
if [ -x "$pyenv/bin/python" ]; then
  PYTHONPATH="$root/sdk/python" "$pyenv/bin/python" sdk/python/bench_wtb_spans.py
else
  echo "skipped: no Python plugin runtime (scripts/python-env.sh makes it)"
fi
