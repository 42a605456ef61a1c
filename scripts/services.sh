#!/usr/bin/env bash
# Starts and stops the throwaway services the test suite uses:
#   PostgreSQL (a fresh cluster owned by the postgres user, data in a temp dir,
#   on 127.0.0.1 and a free port) and PgBouncer in transaction pooling mode in
#   front of it; a Temporal dev server; a Ray head node on loopback; LiteLLM's
#   proxy with mock models over TLS (a CA of its own), the model API of the
#   model-call tests; Jaeger all-in-one (memory storage, OTLP/HTTP in, query
#   API out, on loopback), the collector of the trace export tests.
#
#   eval "$(scripts/services.sh start)"   # exports WTB_TEST_* variables
#   scripts/services.sh stop              # stops what start started
#   WTB_SERVICES=postgres scripts/services.sh start   # only some of them
#
# Nothing is started when the binaries are missing; the tests then skip, or
# fail when CI=true.
set -euo pipefail
state=${WTB_SERVICES_STATE:-/tmp/wtb-test-services}

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])' 2>/dev/null ||
  awk 'BEGIN{srand(); print 20000+int(rand()*20000)}'; }

as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

start_postgres() {
  local pgbin
  pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$pgbin" ] || [ ! -x "$pgbin/initdb" ]; then
    echo "echo 'services: PostgreSQL is not installed; PostgreSQL tests will skip' >&2"
    return
  fi
  if [ "$(id -u)" != 0 ] && [ "$(id -un)" != postgres ]; then
    echo "echo 'services: run as root (or postgres) to start a throwaway PostgreSQL; PostgreSQL tests will skip' >&2"
    return
  fi
  local port data
  port=$(free_port)
  data=$(mktemp -d /tmp/wtb-pg.XXXXXX)
  chown postgres:postgres "$data"
  as_postgres "$pgbin/initdb" -D "$data/db" -U postgres -A trust -E UTF8 --no-locale --no-sync >"$data/initdb.log"
  # A role that must give a password, for the wrong-password test.
  { echo "host all wtb_pw 127.0.0.1/32 scram-sha-256"; cat "$data/db/pg_hba.conf"; } >"$data/hba" && mv "$data/hba" "$data/db/pg_hba.conf"
  chown postgres:postgres "$data/db/pg_hba.conf"
  as_postgres "$pgbin/pg_ctl" -D "$data/db" -l "$data/log" -w -o "-p $port -k $data -h 127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
  as_postgres "$pgbin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE ROLE wtb_pw LOGIN SUPERUSER PASSWORD 'right-password'" >/dev/null
  echo "$pgbin $data $port" >"$state.pg"
  echo "export WTB_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable'"
  echo "export WTB_TEST_PGBIN='$pgbin' WTB_TEST_PGPORT='$port'"
  start_pgbouncer "$port" "$data"
}

start_pgbouncer() {
  local pgport=$1 data=$2 bouncer
  bouncer=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
  if [ ! -x "$bouncer" ]; then
    echo "echo 'services: PgBouncer is not installed; PgBouncer tests will skip' >&2"
    return
  fi
  local port
  port=$(free_port)
  cat >"$data/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$pgport

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $data/userlist.txt
pool_mode = transaction
max_client_conn = 500
default_pool_size = 20
ignore_startup_parameters = extra_float_digits,options
logfile = $data/pgbouncer.log
pidfile = $data/pgbouncer.pid
INI
  echo '"postgres" ""' >"$data/userlist.txt"
  chown postgres:postgres "$data/pgbouncer.ini" "$data/userlist.txt"
  as_postgres "$bouncer" -d "$data/pgbouncer.ini"
  for _ in $(seq 50); do
    [ -s "$data/pgbouncer.pid" ] && break
    sleep 0.1
  done
  echo "export WTB_TEST_PGBOUNCER_URL='postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable'"
}

start_temporal() {
  local temporal
  temporal=$(command -v temporal || echo "$(go env GOPATH 2>/dev/null)/bin/temporal")
  if [ ! -x "$temporal" ]; then
    echo "echo 'services: the temporal CLI is not installed (scripts/install-deps.sh); Temporal tests will skip' >&2"
    return
  fi
  local port ui dir
  port=$(free_port)
  ui=$(free_port)
  dir=$(mktemp -d /tmp/wtb-temporal.XXXXXX)
  # In-memory persistence (a file-backed dev server spends its time in fsync)
  # and one task queue partition (with a few pollers, tasks written to other
  # partitions wait to be forwarded).
  "$temporal" server start-dev --headless --ip 127.0.0.1 --port "$port" --ui-port "$ui" --log-level warn \
    --dynamic-config-value matching.numTaskqueueReadPartitions=1 \
    --dynamic-config-value matching.numTaskqueueWritePartitions=1 \
    >"$dir/log" 2>&1 &
  echo "$! $dir" >"$state.temporal"
  for _ in $(seq 100); do
    "$temporal" operator namespace describe --namespace default --address "127.0.0.1:$port" >/dev/null 2>&1 && break
    sleep 0.2
  done
  echo "export WTB_TEST_TEMPORAL_ADDRESS='127.0.0.1:$port' WTB_TEST_TEMPORAL_BIN='$temporal'"
}

start_ray() {
  local venv=${WTB_RAY_VENV:-$HOME/.cache/wtb/ray-2.60.0}
  if [ ! -x "$venv/bin/ray" ]; then
    echo "echo 'services: Ray is not installed (scripts/install-deps.sh); Ray tests will skip' >&2"
    return
  fi
  local port client dir
  # Outside 10002-19999, the range Ray keeps for its worker processes.
  port=$(free_port); while [ "$port" -ge 10002 ] && [ "$port" -le 19999 ]; do port=$(free_port); done
  client=$(free_port); while [ "$client" -ge 10002 ] && [ "$client" -le 19999 ] || [ "$client" = "$port" ]; do client=$(free_port); done
  dir=$(mktemp -d /tmp/wtb-ray.XXXXXX)
  # 8 logical CPUs on this 2-core machine: test packages run at once, each
  # with actors of its own, and must not wait for one another's.
  # A head on loopback only: the variable makes Ray keep 127.0.0.1 instead of
  # this machine's outward address (drivers need it too; the runner sets it
  # for loopback addresses).
  # With token authentication (Ray 2.60 turns it on by itself once a token
  # exists in ~/.ray), using a token of its own: the tests connect as a user
  # of such a cluster does (RAY_AUTH_MODE=token and the token's path), and
  # nothing is written to the user's home.
  "$venv/bin/python" -c 'import secrets; print(secrets.token_hex(32), end="")' >"$dir/token"
  chmod 600 "$dir/token"
  if ! RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH="$dir/token" RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_USAGE_STATS_ENABLED=0 \
    "$venv/bin/ray" start --head --num-cpus 8 \
    --node-ip-address 127.0.0.1 --port "$port" --ray-client-server-port "$client" --include-dashboard=false \
    --temp-dir "$dir/ray" \
    --disable-usage-stats >"$dir/log" 2>&1; then
    echo "echo 'services: ray start failed (log in $dir/log); Ray tests will skip' >&2"
    return
  fi
  echo "$venv $dir" >"$state.ray"
  echo "export WTB_TEST_RAY_ADDRESS='127.0.0.1:$port' WTB_TEST_RAY_CLIENT_ADDRESS='ray://127.0.0.1:$client' WTB_TEST_RAY_PYTHON='$venv/bin/python' RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH='$dir/token'"
}

start_llm() {
  local venv
  venv=${WTB_LLM_VENV:-$(ls -d "$HOME"/.cache/wtb/llm-* 2>/dev/null | head -1)}
  if [ -z "$venv" ] || [ ! -x "$venv/bin/litellm" ]; then
    echo "echo 'services: LiteLLM is not installed (scripts/install-deps.sh); model-call tests will skip' >&2"
    return
  fi
  local port dir key
  port=$(free_port)
  dir=$(mktemp -d /tmp/wtb-llm.XXXXXX)
  key="sk-wtb-test-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
  # A CA of the tests' own and a certificate for 127.0.0.1 it signs: the
  # gateway reaches the upstream over real TLS, trusting the CA (ca_file).
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=WTB test CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" >/dev/null 2>&1
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$dir/server.key" -out "$dir/server.csr" >/dev/null 2>&1
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:llm.wtb.test\nbasicConstraints=CA:FALSE\n' >"$dir/ext"
  # A name for loopback that is not "localhost" nor a loopback address: Go's
  # (and some other) proxy settings never proxy those, and the proxy-mode
  # tests need a client that goes through HTTPS_PROXY to reach it.
  if ! getent hosts llm.wtb.test >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && [ -w /etc/hosts ]; then
    echo "127.0.0.1 llm.wtb.test # added by wtb scripts/services.sh for its tests" >>/etc/hosts
  fi
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
    -extfile "$dir/ext" -out "$dir/server.pem" >/dev/null 2>&1
  cp "$(dirname "$0")/llm_mock.py" "$dir/"
  cat >"$dir/config.yaml" <<YAML
# gpt-4o-mini and claude-3-5-haiku are the scripted model of
# scripts/llm_mock.py (a LiteLLM custom provider: a tool-using model that
# numbers its answers; limited-* refuse each prompt's first ask with a 429);
# fixed-gpt and fixed-claude always answer the same.
model_list:
  - model_name: gpt-4o-mini
    litellm_params: {model: wtbmock/scripted}
  - model_name: claude-3-5-haiku
    litellm_params: {model: wtbmock/scripted}
  - model_name: slow-gpt
    litellm_params: {model: wtbmock/scripted-slow}
  - model_name: limited-gpt
    litellm_params: {model: wtbmock/scripted-limited}
  - model_name: limited-claude
    litellm_params: {model: wtbmock/scripted-limited}
  - model_name: fixed-gpt
    litellm_params: {model: openai/gpt-4o-mini, api_key: sk-unused, mock_response: "The capital is Paris."}
  - model_name: fixed-claude
    litellm_params: {model: anthropic/claude-3-5-haiku-20241022, api_key: sk-unused, mock_response: "The capital is Paris."}
# The proxy passes every 429 on: its router neither retries (the tests see
# what a provider's limit does) nor cools a model down after failures.
router_settings:
  num_retries: 0
  disable_cooldowns: true
litellm_settings:
  num_retries: 0
  custom_provider_map:
    - {provider: wtbmock, custom_handler: llm_mock.handler}
YAML
  LITELLM_MASTER_KEY=$key LITELLM_TELEMETRY=False LITELLM_LOCAL_MODEL_COST_MAP=True "$venv/bin/litellm" --config "$dir/config.yaml" --host 127.0.0.1 --port "$port" \
    --ssl_keyfile_path "$dir/server.key" --ssl_certfile_path "$dir/server.pem" >"$dir/log" 2>&1 &
  echo "$! $dir" >"$state.llm"
  echo "$port $dir $key $venv" >"$state.llm.env"
}

# wait_llm waits for the LiteLLM spawned by start_llm (it takes 15-30 s to
# import, so the other services start meanwhile).
wait_llm() {
  [ -f "$state.llm.env" ] || return 0
  local port dir key venv
  read -r port dir key venv <"$state.llm.env"
  rm -f "$state.llm.env"
  for _ in $(seq 1 240); do
    curl -sf --cacert "$dir/ca.pem" "https://127.0.0.1:$port/health/liveliness" >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! curl -sf --cacert "$dir/ca.pem" "https://127.0.0.1:$port/health/liveliness" >/dev/null 2>&1; then
    echo "echo 'services: LiteLLM did not start (log in $dir/log); model-call tests will skip' >&2"
    return
  fi
  echo "export WTB_TEST_LLM_URL='https://127.0.0.1:$port' WTB_TEST_LLM_CA='$dir/ca.pem' WTB_TEST_LLM_KEY='$key' WTB_TEST_LLM_PYTHON='$venv/bin/python'"
  if getent hosts llm.wtb.test >/dev/null 2>&1; then echo "export WTB_TEST_LLM_HOST=llm.wtb.test"; fi
}

start_jaeger() {
  local bin=${WTB_JAEGER_BIN:-$HOME/.cache/wtb/bin/jaeger-1.75.0}
  if [ ! -x "$bin" ]; then
    echo "echo 'services: Jaeger is not installed (scripts/install-deps.sh); trace export tests will skip' >&2"
    return
  fi
  local otlp query grpc health dir
  otlp=$(free_port); query=$(free_port); grpc=$(free_port); health=$(free_port)
  dir=$(mktemp -d /tmp/wtb-jaeger.XXXXXX)
  # All-in-one as Jaeger's own all-in-one.yaml, on loopback and free ports
  # only: OTLP/HTTP in, the query service (API and UI) out, traces in memory,
  # no telemetry port of its own.
  cat >"$dir/config.yaml" <<YAML
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:$query
    grpc:
      endpoint: 127.0.0.1:$grpc
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
  healthcheckv2:
    use_v2: true
    http:
      endpoint: 127.0.0.1:$health
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:$otlp
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
YAML
  "$bin" --config "$dir/config.yaml" >"$dir/log" 2>&1 &
  local pid=$!
  echo "$pid $dir" >"$state.jaeger"
  for _ in $(seq 150); do
    curl -sf "http://127.0.0.1:$query/api/services" >/dev/null 2>&1 && break
    sleep 0.2
  done
  if ! curl -sf "http://127.0.0.1:$query/api/services" >/dev/null 2>&1; then
    echo "echo 'services: Jaeger did not start (log in $dir/log); trace export tests will skip' >&2"
    return
  fi
  echo "export WTB_TEST_JAEGER_OTLP_URL='http://127.0.0.1:$otlp' WTB_TEST_JAEGER_QUERY_URL='http://127.0.0.1:$query' WTB_TEST_JAEGER_PID='$pid'"
}

ray_pids() { # the processes of the Ray whose temp dir is $1
  {
    grep -lsF -- "$1" /proc/[0-9]*/cmdline
    find /proc/[0-9]*/fd -maxdepth 1 -lname "$1/*" 2>/dev/null
  } | cut -d/ -f3 | sort -u | grep -vx -- "$$" || true
}

stop() {
  rm -f "$state.llm.env"
  if [ -f "$state.llm" ]; then
    read -r pid dir <"$state.llm"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -rf "$dir" "$state.llm"
  fi
  if [ -f "$state.jaeger" ]; then
    read -r pid dir <"$state.jaeger"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -rf "$dir" "$state.jaeger"
  fi
  if [ -f "$state.temporal" ]; then
    read -r pid dir <"$state.temporal"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -rf "$dir" "$state.temporal"
  fi
  if [ -f "$state.pg" ]; then
    read -r pgbin data port <"$state.pg"
    if [ -f "$data/pgbouncer.pid" ]; then kill "$(cat "$data/pgbouncer.pid")" 2>/dev/null || true; fi
    as_postgres "$pgbin/pg_ctl" -D "$data/db" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$data" "$state.pg"
  fi
  if [ -f "$state.ray" ]; then
    read -r _ dir <"$state.ray"
    # Only this head's processes (`ray stop` would stop every Ray of this
    # user on the machine): those naming its temp dir or holding a file in it
    # (the agents rename themselves and outlive their raylet otherwise).
    local pids
    pids=$(ray_pids "$dir/ray")
    [ -n "$pids" ] && kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 50); do [ -z "$(ray_pids "$dir/ray")" ] && break; sleep 0.1; done
    pids=$(ray_pids "$dir/ray")
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
    rm -rf "$dir" "$state.ray"
  fi
}

case "${1:-}" in
  # WTB_SERVICES picks some (e.g. "postgres" for a developer who needs only
  # PostgreSQL and PgBouncer); all of them by default.
  start)
    stop
    svcs=${WTB_SERVICES:-postgres temporal ray llm jaeger}
    case " $svcs " in *" llm "*) start_llm ;; esac
    for svc in $svcs; do
      case "$svc" in
        postgres) start_postgres ;;
        temporal) start_temporal ;;
        ray) start_ray ;;
        jaeger) start_jaeger ;;
        llm) ;;
        *) echo "services: unknown service $svc (postgres, temporal, ray, llm, jaeger)" >&2; exit 2 ;;
      esac
    done
    wait_llm ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
