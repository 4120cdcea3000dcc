#!/usr/bin/env bash
# Switchyard's service benchmarks, numbers only (no assertions), each against a peer measured in
# the same run:
#   router  — per-request overhead of the router handler against a direct HTTP call to the same
#             loopback backend; time from process start to the first Runtime API `next`;
#             and the size of the release arm64 `bootstrap` (built by `sam build` or cargo lambda).
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
# selected packages, and a different selection rebuilds aws-sdk-ec2 (~13 minutes on 2 cores).
packages=(-p router -p switchyard-worker)

for bench in "${which[@]}"; do
  case "$bench" in
    router)
      say "router: handler overhead and cold start (cargo bench -p router)"
      cargo bench --locked "${packages[@]}" --bench router | tee out/bench-router.txt
      bootstrap="$CARGO_TARGET_DIR/lambda/router/bootstrap"
      if [[ -f "$bootstrap" ]]; then
        size=$(stat -c %s "$bootstrap")
        printf 'bootstrap size     %s bytes (%.2f MiB; goal ≤ 3 MiB), release arm64, from %s\n' \
          "$size" "$(echo "$size / 1048576" | bc -l)" "$bootstrap" | tee -a out/bench-router.txt
      else
        # `--bin router`, as `sam build` runs it: `-p router` resolves features differently and
        # rebuilds the SDK for arm64 instead of sharing sam's artifacts.
        say "no arm64 bootstrap at $bootstrap: build it with 'sam build' or 'cargo lambda build --release --arm64 --bin router'"
      fi
      ;;
    worker)
      bash infra/install.sh
      say "worker: throughput vs a plain SDK loop on LocalStack (cargo bench -p switchyard-worker)"
      cargo bench --locked "${packages[@]}" --bench throughput | tee out/bench-worker.txt
      ;;
    *) die "unknown benchmark '$bench' (router or worker)" ;;
  esac
done
