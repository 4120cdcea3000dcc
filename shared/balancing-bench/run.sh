#!/usr/bin/env bash
# Run the pick benchmarks (Switchyard vs pingora-load-balancing, same run) and print the table
# with ratios. Takes ~3 minutes plus a first build of pingora (~3 minutes on 2 cores).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../../infra/lib.sh"
command -v cmake >/dev/null || bash "$here/../../infra/install.sh"   # pingora's zlib-ng needs cmake
cd "$here"
cargo bench --locked --bench pick -- "$@"
python3 "$here/report.py" "$CARGO_TARGET_DIR/criterion"
