#!/usr/bin/env bash
# Sets up everything the checks need on a fresh Debian machine (PostgreSQL, a Docker engine and
# debootstrap for the container tests, a venv with the package and its test dependencies), then
# runs the linters (Python, action, workflows, Dockerfile), type checks and the test suite.
# Extra arguments go to pytest. `bash scripts/test.sh fast [ARGS]` is the quick loop: the linters
# and the tests that need no server process and no Docker (marker `fast`), nothing installed
# system-wide, the venv only made when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

tier=all
if [ "${1:-}" = fast ]; then
    tier=fast
    shift
fi

missing=()
if [ "$tier" = all ]; then
    ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v zsh >/dev/null || missing+=(zsh)  # the zsh completion test runs a real zsh
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if pg_ctl=$(ls /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -n 1) && [ -n "$pg_ctl" ]; then
    export HOKUSAI_TEST_PG_BIN="$(dirname "$pg_ctl")"
fi

if [ "$tier" = all ] || [ ! -x .venv/bin/pytest ]; then
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[test]'
fi

echo "== ruff"; .venv/bin/ruff check . && .venv/bin/ruff format --check .
echo "== action, workflows, Dockerfile"
.venv/bin/actionlint
.venv/bin/zizmor --offline --quiet .
.venv/bin/hadolint Dockerfile
.venv/bin/check-jsonschema --builtin-schema vendor.github-actions action.yml
.venv/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
echo "== mypy"; .venv/bin/mypy
echo "== pytest ($tier)"
markers=()
[ "$tier" = fast ] && markers=(-m fast -n auto)
status=0
.venv/bin/python -m pytest -q -p no:cacheprovider "${markers[@]}" "$@" || status=$?
echo "== $tier: ${SECONDS} s in all on $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$status"
