#!/usr/bin/env bash
# Writes the launchers of the example Python plugins into a plugin directory:
#
#   scripts/python-plugins.sh DIR VENV
#
# DIR/wtb-runner-python-example runs examples/python-runner/runner.py and
# DIR/wtb-env-python-example runs examples/python-env/provider.py, each with
# VENV's Python (scripts/python-env.sh makes it) and sdk/python on PYTHONPATH.
# A plugin is any executable the host can start; a Python plugin's is a
# two-line shell script like these. `make build` calls this.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 PLUGIN_DIR VENV" >&2; exit 2; }
dir=$1 venv=$2
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir"

launcher() { # NAME SCRIPT
  local out="$dir/$1" tmp
  tmp=$(mktemp "$dir/.$1.XXXXXX")
  cat >"$tmp" <<SH
#!/bin/sh
# $1: $2 with the WTB Python SDK (sdk/python) and its pinned
# environment ($venv). Written by scripts/python-plugins.sh.
if [ ! -x '$venv/bin/python' ]; then
  echo "$1: its Python environment $venv is missing; make it with scripts/python-env.sh (make build does)" >&2
  exit 1
fi
PYTHONPATH='$root/sdk/python'\${PYTHONPATH:+:\$PYTHONPATH}
export PYTHONPATH
exec '$venv/bin/python' '$root/$2' "\$@"
SH
  chmod 755 "$tmp"
  mv "$tmp" "$out"
}

launcher wtb-runner-python-example examples/python-runner/runner.py
launcher wtb-env-python-example examples/python-env/provider.py
