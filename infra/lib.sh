# Shared by Switchyard's infra scripts: paths, defaults, logging. Source it; do not run it.
# shellcheck shell=bash

SWITCHYARD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
INFRA_DIR="$SWITCHYARD_ROOT/infra"
STACK_VENV="${SWITCHYARD_STACK_VENV:-$INFRA_DIR/.venv-stack}"
TOOLS_VENV="${SWITCHYARD_TOOLS_VENV:-$INFRA_DIR/.venv-tools}"
STATE_DIR="${SWITCHYARD_STATE_DIR:-$INFRA_DIR/.state}"
LOCALSTACK_PORT="${SWITCHYARD_LOCALSTACK_PORT:-4566}"

# Local AWS: LocalStack accepts any credentials; the region is fixed so names and ARNs are stable.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_DEFAULT_REGION="$AWS_REGION"

# One target dir for every build of the workspace. Outside the clone by default, so that a fresh
# clone (CI) reuses what an earlier run on the same machine built.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchyard/target}"

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

localstack_endpoint() { echo "http://127.0.0.1:${1:-$LOCALSTACK_PORT}"; }

# Start LocalStack on $LOCALSTACK_PORT unless it already runs there, and stop it again when the
# calling script exits if this call started it (SWITCHYARD_KEEP_STACK=1 keeps it running).
# Sets LOCALSTACK_STARTED to 1 when it started it. Installs an EXIT trap: call it once per script.
use_localstack() {
  LOCALSTACK_STARTED=0
  if ! bash "$INFRA_DIR/localstack.sh" status >/dev/null 2>&1; then
    bash "$INFRA_DIR/localstack.sh" start
    LOCALSTACK_STARTED=1
  fi
  trap stop_localstack_if_started EXIT
}
stop_localstack_if_started() {
  if [[ "${LOCALSTACK_STARTED:-0}" == 1 && "${SWITCHYARD_KEEP_STACK:-0}" != 1 ]]; then
    bash "$INFRA_DIR/localstack.sh" stop
  fi
}
