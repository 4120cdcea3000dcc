#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need (idempotent), runs the
# LocalStack plugin's own tests (pytest, against a LocalStack of their own), then runs
# every test of the workspace (unit, property, handler, and integration tests against LocalStack,
# which each test binary starts for itself unless SWITCHYARD_LOCALSTACK_ENDPOINT names one), then
# checks the SAM template.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SWITCHYARD_ROOT"

bash infra/install.sh

# pytest exits 5 when it collects no test: that fails here like any failing test.
say "LocalStack plugin tests (pytest)"
"$STACK_VENV/bin/python" -m pytest infra/localstack-plugin/tests

say "cargo test --workspace (target dir: $CARGO_TARGET_DIR)"
cargo test --workspace --locked

say "template checks"
bash infra/check-template.sh
