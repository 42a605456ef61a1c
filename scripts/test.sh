#!/usr/bin/env bash
# Runs the whole test suite with the race detector, with the services the tests
# need: a throwaway PostgreSQL and PgBouncer (scripts/services.sh), stopped
# afterwards even when tests fail.
set -euo pipefail
cd "$(dirname "$0")/.."
export WTB_SERVICES_STATE=${WTB_SERVICES_STATE:-$(mktemp -u /tmp/wtb-services.XXXXXX)}
trap 'scripts/services.sh stop' EXIT
eval "$(scripts/services.sh start)"
# 40m per package: the e2e package is one test binary, ~12 min on a quiet CI
# machine; a loaded one must not turn slowness into a panic.
go test -race -count=1 -timeout 40m ./... "$@"
