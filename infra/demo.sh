#!/usr/bin/env bash
# Switchyard's local demo, one command:
#   1. LocalStack on the host with Auto Scaling, and the resources a user has (work queue + DLQ,
#      web fleet, consumer fleet);
#   2. the scaling simulator: Switchyard vs AWS target tracking vs KEDA+HPA on a traffic spike,
#      with a plot;
#   3. the scaler Lambda under `cargo lambda watch` (the real Lambda Runtime API), ticked by hand:
#      a burst of jobs grows the consumer fleet; drained, it holds for the stabilization window,
#      then shrinks, and goes to zero once idle.
#
# Idempotent: re-running reuses the install, the build and a LocalStack that already runs.
# Stops what it started (SWITCHYARD_KEEP_STACK=1 leaves LocalStack running for you to explore).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SWITCHYARD_ROOT"

bash infra/install.sh

endpoint="$(localstack_endpoint)"
started_stack=0
watch_pid=""
if ! bash infra/localstack.sh status >/dev/null 2>&1; then
  bash infra/localstack.sh start
  started_stack=1
fi
cleanup() {
  if [[ -n "$watch_pid" ]]; then kill -- "-$watch_pid" 2>/dev/null || kill "$watch_pid" 2>/dev/null || true; fi
  if [[ "$started_stack" == 1 && "${SWITCHYARD_KEEP_STACK:-0}" != 1 ]]; then bash infra/localstack.sh stop; fi
}
trap cleanup EXIT

say "building the workspace (first build on a fresh machine: about 5 minutes)"
cargo build --locked --quiet --workspace --bins
bin="$CARGO_TARGET_DIR/debug"
export AWS_ENDPOINT_URL="$endpoint"

say "1/3 the local environment at $endpoint"
"$bin/switchyard-local" bootstrap
"$bin/switchyard-local" status

say "2/3 the scaling simulator on a traffic spike (20× for 10 minutes)"
mkdir -p out
"$bin/switchyard-sim" --trace spike --plot out/spike.svg

say "3/3 the scaler Lambda under cargo lambda watch, ticked by hand"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
queue_url="$endpoint/000000000000/switchyard-work"
window=10
idle=20
# Compressed clock: 1 s history resolution, a 10 s stabilization window, zero after 20 s idle,
# and CloudWatch datapoints older than 15 s count as missing (LocalStack publishes AWS/SQS metrics
# per minute; on this clock a minute-old arrival rate would be stale news).
cat > out/scaler.env <<EOF
AWS_ENDPOINT_URL=$endpoint
AWS_REGION=$AWS_REGION
AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
SWITCHYARD_FLEETS='[{"name":"workers","group":"switchyard-workers","role":"consumer","queue_url":"$queue_url","backlog_per_instance":10,"age_slo_seconds":120,"per_instance_rate":1}]'
SWITCHYARD_HISTORY_PERIOD_SECS=1
SWITCHYARD_SCALE_DOWN_WINDOW_SECS=$window
SWITCHYARD_SCALE_UP_PERIOD_SECS=1
SWITCHYARD_SCALE_TO_ZERO_AFTER_SECS=$idle
SWITCHYARD_METRIC_MAX_AGE_SECS=15
SWITCHYARD_NAMESPACE=Switchyard/Demo
EOF
PATH="$TOOLS_VENV/bin:$PATH" setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" \
  --ignore-changes --env-file out/scaler.env >out/lambda-watch.log 2>&1 &
watch_pid=$!
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.2
done

# One scaler invocation through the Runtime API; prints the consumer fleet's decision.
tick() {
  local label="$1" dry="${2:-false}" out
  out="$(PATH="$TOOLS_VENV/bin:$PATH" cargo lambda invoke scaler --invoke-address 127.0.0.1 \
    --invoke-port "$port" --data-ascii "{\"dry_run\": $dry}" 2>>out/lambda-watch.log)" || {
    tail -n 20 out/lambda-watch.log >&2
    die "the scaler invocation failed (log: out/lambda-watch.log)"
  }
  python3 - "$label" "$out" <<'PY'
import json, sys
label, report = sys.argv[1], json.loads(sys.argv[2])
if not report["dry_run"]:
    with open("out/demo-sizes.txt", "a") as sizes:
        sizes.writelines(f"{f['desired']}\n" for f in report["fleets"])
for f in report["fleets"]:
    q = f.get("queue", {})
    print(f"  {label:<34} visible {q.get('visible', 0):>4}  {f['current']:>2} → {f['desired']:<2} {'(dry run)' if report['dry_run'] else ''}")
    print(f"  {'':<34} {f['steps'][-1]}")
for e in report["failed"]:
    print(f"  {label}: {e['fleet']} failed: {e['error']}")
    sys.exit(1)
PY
}

say "the first invocation compiles the scaler for cargo lambda (a minute or two the first time)"
: > out/demo-sizes.txt
"$bin/switchyard-local" enqueue --count 60
tick "60 jobs queued, dry run" true
tick "60 jobs queued"
"$bin/switchyard-local" drain
tick "queue drained"
say "waiting out the ${window} s stabilization window"
sleep $((window + 1))
tick "after the window"
say "waiting until the fleet has been idle ${idle} s"
sleep $((idle - window))
tick "idle"
"$bin/switchyard-local" enqueue --count 1
tick "one job arrives"

say "what exists now"
"$bin/switchyard-local" status
cat <<EOF

Summary
  local stack        LocalStack at $endpoint with Auto Scaling (project plugin)
  simulator plot     out/spike.svg and out/spike.png
  scaler             ran under cargo lambda watch (the Lambda Runtime API); consumer fleet size
                     after each tick: 0 → $(paste -sd' ' out/demo-sizes.txt | sed 's/ / → /g')
                     (burst, drained, after the window, idle, one job)
  scaler log         out/lambda-watch.log
EOF
if [[ "$started_stack" == 1 && "${SWITCHYARD_KEEP_STACK:-0}" != 1 ]]; then
  say "done; stopping LocalStack (SWITCHYARD_KEEP_STACK=1 keeps it running)"
else
  say "done; LocalStack keeps running at $endpoint (stop it: bash infra/localstack.sh stop)"
fi
