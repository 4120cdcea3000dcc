#!/usr/bin/env bash
# LocalStack on the host (no Docker), with Switchyard's Auto Scaling plugin.
#
#   infra/localstack.sh start    start on 127.0.0.1:$SWITCHYARD_LOCALSTACK_PORT (default 4566), wait until
#                                healthy with Auto Scaling available; a no-op if it already runs there
#   infra/localstack.sh stop     stop the instance on that port by its PID (its whole process group)
#   infra/localstack.sh status   print the health JSON, exit 1 if it is not running
#   infra/localstack.sh endpoint print the endpoint URL
#
# SWITCHYARD_LOCALSTACK_OWNER_PID=<pid>: stop LocalStack by itself once that process is gone (test
# binaries use it, so an instance they start never outlives them, even after a crash).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

port="$LOCALSTACK_PORT"
dir="$STATE_DIR/localstack-$port"
pidfile="$dir/pid"
log="$dir/localstack.log"
endpoint="$(localstack_endpoint "$port")"

health() { curl -sf --max-time 2 "$endpoint/_localstack/health" 2>/dev/null; }

# Auto Scaling shows as "available" until first used, then "running".
autoscaling_ready() { health | grep -Eq '"autoscaling": *"(available|running)"'; }

running_pid() {
  [[ -f "$pidfile" ]] || return 1
  local pid; pid="$(cat "$pidfile")"
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

start() {
  if pid="$(running_pid)" && autoscaling_ready; then
    say "LocalStack already running at $endpoint (pid $pid)"; return 0
  fi
  [[ -x "$STACK_VENV/bin/python" ]] || die "LocalStack is not installed at $STACK_VENV: run \`bash infra/install.sh\`"
  if health >/dev/null; then
    die "something else already answers at $endpoint; stop it or set SWITCHYARD_LOCALSTACK_PORT"
  fi
  mkdir -p "$dir/volume" "$dir/filesystem" "$dir/tmp"
  say "starting LocalStack at $endpoint (log: $log)"
  local started=$SECONDS
  # setsid: LocalStack and its helper processes share one process group that `stop` can signal.
  # Side by side without collisions: DNS_ADDRESS=0 (no DNS server on :53); FILESYSTEM_ROOT and
  # TMPDIR per instance (by default every host-mode instance keeps its state, CloudWatch's
  # database included, in one folder inside the installed package, and wipes it on start and stop).
  env -u AWS_ENDPOINT_URL \
    GATEWAY_LISTEN="127.0.0.1:$port" \
    LOCALSTACK_HOST="127.0.0.1:$port" \
    SQS_ENDPOINT_STRATEGY=path \
    SERVICES="sqs,cloudwatch,ec2,sts,iam,cloudformation,events,logs,s3,autoscaling,lambda,ssm" \
    LAMBDA_RUNTIME_EXECUTOR=noop \
    DNS_ADDRESS=0 \
    DISABLE_EVENTS=1 \
    SKIP_SSL_CERT_DOWNLOAD=1 \
    LOCALSTACK_VOLUME_DIR="$dir/volume" \
    FILESYSTEM_ROOT="$dir/filesystem" \
    TMPDIR="$dir/tmp" \
    setsid "$STACK_VENV/bin/python" -m localstack.runtime.main >"$log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" > "$pidfile"

  if [[ -n "${SWITCHYARD_LOCALSTACK_OWNER_PID:-}" ]]; then
    local owner="$SWITCHYARD_LOCALSTACK_OWNER_PID"
    setsid bash -c "while kill -0 $owner 2>/dev/null; do sleep 1; done
      kill -TERM -- -$pid 2>/dev/null; sleep 15; kill -KILL -- -$pid 2>/dev/null; rm -rf '$dir'" \
      >/dev/null 2>&1 </dev/null &
  fi

  local deadline=$((SECONDS + ${SWITCHYARD_LOCALSTACK_START_TIMEOUT:-90}))
  until autoscaling_ready; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$log" >&2 || true
      die "LocalStack exited during start-up (log above: $log)"
    fi
    if ((SECONDS > deadline)); then
      tail -n 30 "$log" >&2 || true
      stop
      die "LocalStack did not report Auto Scaling available within the start timeout (log: $log)"
    fi
    sleep 0.3
  done
  say "LocalStack ready at $endpoint in $((SECONDS - started)) s (pid $pid)"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then say "LocalStack is not running on port $port"; rm -f "$pidfile"; return 0; fi
  say "stopping LocalStack (pid $pid)"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
  rm -f "$pidfile"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) health || { echo "LocalStack is not running at $endpoint" >&2; exit 1; } ;;
  endpoint) echo "$endpoint" ;;
  *) echo "usage: $0 start|stop|status|endpoint" >&2; exit 2 ;;
esac
