#!/usr/bin/env bash
# Runs the whole test suite with the race detector. Services the tests need
# (PostgreSQL, PgBouncer, the Temporal dev server) are started by
# scripts/services.sh when available; see README "Testing".
set -euo pipefail
cd "$(dirname "$0")/.."
exec go test -race -count=1 -timeout 20m ./... "$@"
