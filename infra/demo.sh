#!/usr/bin/env bash
# Switchyard's local demo, one command:
#   1. LocalStack on the host with Auto Scaling, and the resources a user has (work queue + DLQ,
#      web fleet, consumer fleet);
#   2. the scaling simulator: Switchyard vs AWS target tracking vs KEDA+HPA on a traffic spike,
#      with a plot;
#   3. demo web servers (one per web-fleet instance, reporting their connections, and one more for
#      each instance that joins later) (infra/demo_flow.py, as are 4-7);
#   4. the router Lambda under the Lambda Runtime API (cargo lambda) once per algorithm with
#      traffic through its Function URL, and a burst of jobs POSTed through it onto SQS;
#   5. routing rules from a document in SSM Parameter Store: host and path rules to an api group,
#      a 90/10 canary, its weights changed live, a malformed version refused;
#   6. the consumer fleet (switchyard-consumer per instance) draining them while the scaler Lambda,
#      ticked every two seconds, grows the fleet, holds it for the stabilization window, shrinks it
#      and idles it to zero;
#   7. the web fleet idling to zero on the router's request counts (its EMF lines shipped to
#      CloudWatch), and a GET through the router waking it and being answered once the new
#      instance serves.
#
# Idempotent: re-running reuses the install, the build and a LocalStack that already runs.
# Stops what it started (SWITCHYARD_KEEP_STACK=1 leaves LocalStack running for you to explore).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SWITCHYARD_ROOT"

bash infra/install.sh

endpoint="$(localstack_endpoint)"
use_localstack

say "building the workspace (first build on a fresh machine: about 5 minutes)"
cargo build --locked --quiet --workspace --bins
bin="$CARGO_TARGET_DIR/debug"
export AWS_ENDPOINT_URL="$endpoint"

say "1/8 the local environment at $endpoint"
"$bin/switchyard-local" bootstrap
"$bin/switchyard-local" status

say "2/8 the scaling simulator on a traffic spike (20× for 10 minutes)"
mkdir -p out
"$bin/switchyard-sim" --trace spike --plot out/spike.svg

export SWITCHYARD_BIN="$bin" SWITCHYARD_TOOLS_BIN="$TOOLS_VENV/bin" SWITCHYARD_OUT="out"
"$STACK_VENV/bin/python" infra/demo_flow.py

say "what exists now"
"$bin/switchyard-local" status
if [[ "$LOCALSTACK_STARTED" == 1 && "${SWITCHYARD_KEEP_STACK:-0}" != 1 ]]; then
  say "done; stopping LocalStack (SWITCHYARD_KEEP_STACK=1 keeps it running)"
else
  say "done; LocalStack keeps running at $endpoint (stop it: bash infra/localstack.sh stop)"
fi
