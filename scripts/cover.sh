#!/usr/bin/env bash
# Measures how much of host/, sdk/ and plugins/ the test suite runs, in one
# figure per package: the tests' own processes (go test -coverprofile) and
# every binary they start (wtb, the plugins the host launches, Temporal
# workers, the reference gRPC service), built with `go build -cover` by
# host/internal/testbin and plugins/internal/plugintest when WTB_COVER names a
# directory, merged by scripts/coverreport.
#
# Output in bin/cover (WTB_COVER_OUT): summary.txt (the table), cover.out
# (the merged profile: go tool cover -html=bin/cover/cover.out), unit.out and
# binaries.out (the two halves). Extra arguments go to go test (-run, -short,
# package patterns in place of ./...).
#
# The services the tests need (PostgreSQL + PgBouncer, Temporal, Ray, the LLM
# mock) are started and stopped around the run, as by scripts/test.sh, unless
# the environment already names them (WTB_TEST_* set by an earlier
# `eval "$(scripts/services.sh start)"`): then those are used.
# No race detector here (that is `make test`'s job): it would only slow the
# measurement down.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${WTB_COVER_OUT:-$PWD/bin/cover}
rm -rf "$out"
mkdir -p "$out/binaries"
export WTB_COVER="$out/binaries"

if [ -z "$(env | grep -E '^WTB_TEST_(POSTGRES_URL|TEMPORAL_ADDRESS|RAY_ADDRESS|LLM_URL)=' || true)" ]; then
  export WTB_SERVICES_STATE=${WTB_SERVICES_STATE:-$(mktemp -u /tmp/wtb-services.XXXXXX)}
  trap 'scripts/services.sh stop' EXIT
  eval "$(scripts/services.sh start)"
fi

pkgs=()
args=()
for a in "$@"; do
  case "$a" in ./*) pkgs+=("$a") ;; *) args+=("$a") ;; esac
done
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)

status=0
go test -count=1 -timeout 60m -covermode=atomic -coverpkg=./host/...,./sdk/...,./plugins/... \
  -coverprofile="$out/unit.out" ${args[@]+"${args[@]}"} "${pkgs[@]}" >"$out/test.log" 2>&1 || status=$?
grep -E '^(ok|FAIL|---|panic)' "$out/test.log" | grep -v '^ok' || true
if [ ! -s "$out/unit.out" ]; then
  echo "cover: go test wrote no profile; see $out/test.log" >&2
  exit 1
fi
if [ -n "$(ls -A "$out/binaries")" ]; then
  go tool covdata textfmt -i="$out/binaries" -o "$out/binaries.out"
else
  echo "mode: atomic" >"$out/binaries.out"
fi
go run ./scripts/coverreport -o "$out/cover.out" "$out/unit.out" "$out/binaries.out" | tee "$out/summary.txt"
echo
echo "merged profile: go tool cover -html=$out/cover.out; test output: $out/test.log"
if [ "$status" != 0 ]; then
  echo "cover: tests failed (exit $status): the figures above miss what the failed tests did not run" >&2
fi
exit "$status"
