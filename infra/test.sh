#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need (idempotent), then runs
# every test of the workspace (unit, property, handler, and integration tests against LocalStack,
# which each test binary starts for itself unless SWITCHYARD_LOCALSTACK_ENDPOINT names one), then
# checks the SAM template.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SWITCHYARD_ROOT"

bash infra/install.sh

say "cargo test --workspace (target dir: $CARGO_TARGET_DIR)"
cargo test --workspace --locked

say "template checks"
bash infra/check-template.sh
