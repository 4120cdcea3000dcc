#!/usr/bin/env bash
# Switchyard's service benchmarks, numbers only (no assertions), each against a peer measured in
# the same run:
#   router  — per-request overhead of the router handler against a direct HTTP call to the same
#             loopback backend; time from process start to the first Runtime API `next`;
#             and the size of the release arm64 `bootstrap`, built as `sam build` builds it.
#   worker  — messages per second of one switchyard-worker against a plain receive/delete loop on
#             the same LocalStack queue; Auto Scaling protection calls per 1 000 messages.
# Usage: bash infra/bench.sh [router|worker]...   (default: both). Results: out/bench-*.txt.
# The first run builds the bench profile of the SDK crates: about 18 minutes on 2 cores.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SWITCHYARD_ROOT"
mkdir -p out

which=("$@")
[[ ${#which[@]} -gt 0 ]] || which=(router worker)
# Both benchmarks always build with the same package selection: cargo unifies features over the
# selected packages, and a different selection rebuilds the SDK crates (minutes on 2 cores).
packages=(-p router -p switchyard-worker)

for bench in "${which[@]}"; do
  case "$bench" in
    router)
      say "router: handler overhead and cold start (cargo bench -p router)"
      cargo bench --locked "${packages[@]}" --bench router | tee out/bench-router.txt
      # Built as `sam build` builds it (CodeUri functions/router): from the router's folder, so cargo
      # resolves the router's own dependency tree. About a minute; no SDK crate is in it.
      bash infra/install.sh
      say "router: release arm64 bootstrap (cargo lambda build in functions/router)"
      (cd functions/router && PATH="$TOOLS_VENV/bin:$PATH" cargo lambda build --release --arm64 --bin router)
      bootstrap="$CARGO_TARGET_DIR/lambda/router/bootstrap"
      size=$(stat -c %s "$bootstrap")
      printf 'bootstrap size     %s bytes (%.2f MiB; goal ≤ 3 MiB), release arm64, from %s\n' \
        "$size" "$(echo "$size / 1048576" | bc -l)" "$bootstrap" | tee -a out/bench-router.txt
      ;;
    worker)
      bash infra/install.sh
      say "worker: throughput vs a plain SDK loop on LocalStack (cargo bench -p switchyard-worker)"
      cargo bench --locked "${packages[@]}" --bench throughput | tee out/bench-worker.txt
      ;;
    *) die "unknown benchmark '$bench' (router or worker)" ;;
  esac
done
