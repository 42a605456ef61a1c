#!/usr/bin/env bash
# Installs the system packages the tests use when they are missing (Debian).
set -euo pipefail
need=()
command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || need+=(pgbouncer)
# Headless Chromium drives the viewer's browser tests.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# A real Prometheus, its promtool and a Pushgateway for the metrics tests.
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-pushgateway >/dev/null 2>&1 || need+=(prometheus-pushgateway)
# curl and openssl: the model-call tests' TLS upstream (a CA of their own) and clients.
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# nats-server: the event bridge's tests publish to a real server they start,
# kill and restart themselves.
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
# Node.js: its fetch is one of the model-call tests' clients.
command -v node >/dev/null 2>&1 || need+=(nodejs)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing packages: ${need[*]} (run as root or install them: apt-get install -y ${need[*]})" >&2
    exit 0
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
echo "system packages ok"
[ -n "${WTB_SKIP_TEMPORAL:-}" ] && exit 0

# Ray for the Ray runner's tests, pinned, in a virtual environment of its own
# (never system-wide); scripts/services.sh starts a head node from it.
ray_venv=${WTB_RAY_VENV:-$HOME/.cache/wtb/ray-2.60.0}
if [ -z "${WTB_SKIP_RAY:-}" ] && ! "$ray_venv/bin/python" -c 'import ray, pytest' >/dev/null 2>&1; then
  echo "installing ray[default]==2.60.0 into $ray_venv (a minute or two, once)"
  if ! python3 -m venv "$ray_venv" >/dev/null 2>&1; then
    # Debian's python3 ships venv separately.
    rm -rf "$ray_venv"
    [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$ray_venv"
  fi
  "$ray_venv/bin/pip" install -q --disable-pip-version-check "ray[default]==2.60.0" "pytest>=7"
fi
echo "ray ok"

# LiteLLM's proxy and the openai/anthropic SDKs for the model-call tests, pinned
# whole in scripts/llm-requirements.txt, in a virtual environment named after
# that file's hash (a changed pin gets a fresh one).
llm_hash=$(sha256sum "$(dirname "$0")/llm-requirements.txt" | cut -c1-12)
llm_venv=${WTB_LLM_VENV:-$HOME/.cache/wtb/llm-$llm_hash}
if [ -z "${WTB_SKIP_LLM:-}" ] && ! "$llm_venv/bin/python" -c 'import litellm, openai, anthropic, fastapi, uvicorn' >/dev/null 2>&1; then
  echo "installing LiteLLM's proxy and the openai/anthropic SDKs into $llm_venv (a minute or two, once)"
  rm -rf "$llm_venv"
  python3 -m venv "$llm_venv"
  "$llm_venv/bin/pip" install -q --disable-pip-version-check -r "$(dirname "$0")/llm-requirements.txt"
fi
echo "llm ok"

# The OpenTelemetry-instrumented openai SDK for the trace tests (a node whose
# gen_ai spans the receiver beside the nodes takes), pinned whole in
# scripts/otel-requirements.txt, in a virtual environment named after its hash.
otel_hash=$(sha256sum "$(dirname "$0")/otel-requirements.txt" | cut -c1-12)
otel_venv=${WTB_OTEL_VENV:-$HOME/.cache/wtb/otel-$otel_hash}
if [ -z "${WTB_SKIP_LLM:-}" ] && ! "$otel_venv/bin/python" -c 'import openai, opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http, opentelemetry.instrumentation.openai_v2.instruments' >/dev/null 2>&1; then
  echo "installing the OpenTelemetry-instrumented openai SDK into $otel_venv (once)"
  rm -rf "$otel_venv"
  python3 -m venv "$otel_venv"
  "$otel_venv/bin/pip" install -q --disable-pip-version-check -r "$(dirname "$0")/otel-requirements.txt"
fi
echo "otel ok"

# The Python plugin runtime (grpcio, protobuf, cryptography, opentelemetry-sdk; pinned whole in
# sdk/python/requirements.txt) for the example Python plugins and their tests.
if [ -z "${WTB_SKIP_PYPLUGIN:-}" ]; then
  "$(dirname "$0")/python-env.sh" >/dev/null
fi
echo "python plugin runtime ok"

# Jaeger all-in-one v1.75.0 for the trace export tests, built from the Go
# module proxy through a tool module of its own (scripts/tools/jaeger: its
# dependency graph stays out of wtb's go.mod) into ~/.cache/wtb/bin, once:
# skipped when the binary of that version is there.
jaeger_bin=${WTB_JAEGER_BIN:-$HOME/.cache/wtb/bin/jaeger-1.75.0}
if [ -z "${WTB_SKIP_JAEGER:-}" ] && [ ! -x "$jaeger_bin" ]; then
  echo "building Jaeger v1.75.0 into $jaeger_bin (several minutes, once)"
  mkdir -p "$(dirname "$jaeger_bin")"
  (cd "$(dirname "$0")/tools/jaeger" && go build -o "$jaeger_bin.tmp" github.com/jaegertracing/jaeger/cmd/jaeger) && mv "$jaeger_bin.tmp" "$jaeger_bin"
fi
echo "jaeger ok"

# The Temporal CLI (dev server) for the cluster tests. v1.5.1 builds with this
# Go; newer releases do not (replace directives in their go.mod). The binary is
# cached in $(go env GOPATH)/bin, so a second run does not rebuild it.
if [ -z "${WTB_SKIP_TEMPORAL:-}" ] && ! command -v temporal >/dev/null 2>&1 && [ ! -x "$(go env GOPATH)/bin/temporal" ]; then
  echo "installing the temporal CLI v1.5.1 (a few minutes, once)"
  go install github.com/temporalio/cli/cmd/temporal@v1.5.1
fi
echo "temporal CLI ok"
