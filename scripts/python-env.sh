#!/usr/bin/env bash
# The Python plugin runtime: a venv with sdk/python/requirements.txt (pinned)
# under ~/.cache/wtb, named after that file's hash, never system-wide.
#
#   scripts/python-env.sh          # installs it when missing; prints its directory
#   scripts/python-env.sh --path   # only prints where it is (or would be)
#
# WTB_PYPLUGIN_VENV overrides the directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
req="$root/sdk/python/requirements.txt"
hash=$(sha256sum "$req" | cut -c1-12)
venv=${WTB_PYPLUGIN_VENV:-$HOME/.cache/wtb/pyplugin-$hash}
if [ "${1:-}" = --path ]; then
  echo "$venv"
  exit 0
fi
if ! "$venv/bin/python" -c 'import grpc, grpc_health.v1, google.protobuf, cryptography, opentelemetry.sdk.trace, opentelemetry.proto.collector.trace.v1.trace_service_pb2' >/dev/null 2>&1; then
  echo "installing the Python plugin runtime (grpcio, protobuf, cryptography, opentelemetry-sdk; pinned) into $venv (once)" >&2
  rm -rf "$venv"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    # Debian's python3 ships venv separately.
    rm -rf "$venv"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    fi
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >&2
fi
echo "$venv"
