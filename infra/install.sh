#!/usr/bin/env bash
# Install everything Switchyard's local stack and tests need, pinned, idempotently:
#   - infra/.venv-stack: LocalStack 4.14 (+ pins) and the project's LocalStack plugin;
#   - infra/.venv-tools: aws-sam-cli, cfn-lint, cargo-lambda (separate: pip cannot resolve SAM
#     together with LocalStack);
#   - Debian packages: cmake (the benchmark peer's zlib-ng), fonts-dejavu-core (plot text).
# Re-running changes nothing: each venv keeps a stamp of what it was built from.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

python_ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; }

find_python() {
  local candidates=()
  [[ -n "${SWITCHYARD_PYTHON:-}" ]] && candidates+=("$SWITCHYARD_PYTHON")
  if command -v pyenv >/dev/null 2>&1; then
    local root; root="$(pyenv root)"
    candidates+=("$root"/versions/3.13*/bin/python3 "$root"/versions/3.12*/bin/python3)
  fi
  candidates+=(python3.13 python3.12 python3)
  local c
  for c in "${candidates[@]}"; do
    if command -v "$c" >/dev/null 2>&1 && python_ok "$c"; then command -v "$c"; return 0; fi
  done
  return 1
}

# make_venv DIR STAMP_INPUTS... : (re)create DIR unless its stamp matches the inputs.
venv_current() { [[ -f "$1/.switchyard-stamp" && "$(cat "$1/.switchyard-stamp")" == "$2" ]]; }

fingerprint() { cat "$@" | sha256sum | cut -d' ' -f1; }

install_venv() {
  local dir="$1" stamp="$2"; shift 2
  if venv_current "$dir" "$stamp"; then say "$(basename "$dir") is up to date"; return 0; fi
  say "building $(basename "$dir") with $($PYTHON --version)"
  local started=$SECONDS
  rm -rf "$dir"
  "$PYTHON" -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
  echo "$stamp" > "$dir/.switchyard-stamp"
  say "$(basename "$dir") ready in $((SECONDS - started)) s"
}

# cmake: pingora's zlib-ng (the balancing benchmark's peer). fonts-dejavu-core: the simulator's
# plots lay out and draw text with DejaVu Sans.
ensure_debian_packages() {
  local missing=()
  command -v cmake >/dev/null 2>&1 || missing+=(cmake)
  [[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || missing+=(fonts-dejavu-core)
  ((${#missing[@]} == 0)) && return 0
  command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and apt-get is not available: install them"
  local sudo=""; [[ "$(id -u)" == 0 ]] || sudo="sudo"
  say "installing ${missing[*]} (Debian)"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

PYTHON="$(find_python)" || die "LocalStack 4.14 needs Python 3.12 or newer and none was found \
(looked at \$SWITCHYARD_PYTHON, pyenv's 3.13/3.12, python3.13, python3.12, python3). \
Install one (for example \`pyenv install 3.13\`) or set SWITCHYARD_PYTHON=/path/to/python3.12+."

plugin_files=("$INFRA_DIR"/localstack-plugin/pyproject.toml "$INFRA_DIR"/localstack-plugin/switchyard_localstack/*.py)
install_venv "$STACK_VENV" "$("$PYTHON" --version)-$(fingerprint "$INFRA_DIR/requirements-stack.txt" "${plugin_files[@]}")" \
  -r "$INFRA_DIR/requirements-stack.txt" "$INFRA_DIR/localstack-plugin"
install_venv "$TOOLS_VENV" "$("$PYTHON" --version)-$(fingerprint "$INFRA_DIR/requirements-tools.txt")" \
  -r "$INFRA_DIR/requirements-tools.txt"
ensure_debian_packages
