#!/usr/bin/env bash
# Switchyard's local demo: LocalStack on the host with Auto Scaling, the resources a user has
# (work queue + DLQ, web fleet, consumer fleet), and what exists in it.
#
# Idempotent: re-running reuses the install, the build and a LocalStack that already runs.
# Stops what it started (SWITCHYARD_KEEP_STACK=1 leaves LocalStack running for you to explore).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SWITCHYARD_ROOT"

bash infra/install.sh

endpoint="$(localstack_endpoint)"
started_stack=0
if ! bash infra/localstack.sh status >/dev/null 2>&1; then
  bash infra/localstack.sh start
  started_stack=1
fi
cleanup() {
  if [[ "$started_stack" == 1 && "${SWITCHYARD_KEEP_STACK:-0}" != 1 ]]; then bash infra/localstack.sh stop; fi
}
trap cleanup EXIT

say "building the workspace (first build on a fresh machine: a few minutes)"
cargo build --locked --quiet --workspace --bins
local_tool="$CARGO_TARGET_DIR/debug/switchyard-local"

export AWS_ENDPOINT_URL="$endpoint"
say "bootstrapping the local environment at $endpoint"
"$local_tool" bootstrap
say "what exists"
"$local_tool" status
if [[ "$started_stack" == 1 && "${SWITCHYARD_KEEP_STACK:-0}" != 1 ]]; then
  say "done; stopping LocalStack (SWITCHYARD_KEEP_STACK=1 keeps it running)"
else
  say "done; LocalStack keeps running at $endpoint (stop it: bash infra/localstack.sh stop)"
fi
