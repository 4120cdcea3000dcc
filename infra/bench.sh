#!/usr/bin/env bash
# Switchyard's service benchmarks, numbers only (no assertions), each against a peer measured in
# the same run:
#   router  — per-request overhead of the router handler against a direct HTTP call to the same
#             loopback backend; time from process start to the first Runtime API `next`;
#             and the size of the release arm64 `bootstrap`, built as `sam build` builds it.
#   instructions — instructions and simulated cache misses per request of the router handler
#             against the direct call, counted by cachegrind (valgrind): deterministic where the
#             timed ratio moves by ±0.03 with the machine, so it shows what a change does to the
#             handler's own work. Not run by default.
#   worker  — messages per second of one switchyard-worker against a plain receive/delete loop on
#             the same LocalStack queue; Auto Scaling protection calls per 1 000 messages.
# Usage: bash infra/bench.sh [router|instructions|worker]...   (default: router and worker). Results: out/bench-*.txt.
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
    instructions)
      command -v valgrind >/dev/null || die "'instructions' needs valgrind (apt-get install valgrind)"
      say "router: instructions and cache misses per request, handler vs direct call (cachegrind, ~1 min)"
      bin=$(cargo bench --locked "${packages[@]}" --bench router --no-run 2>&1 |
        sed -n 's/.*Executable .*(\(.*\))$/\1/p' | tail -1)
      [[ -x "$bin" ]] || die "could not find the router bench binary"
      for path in direct handler; do
        say "  $path"
        valgrind --tool=cachegrind --cache-sim=yes --cachegrind-out-file="out/cachegrind-$path.out" \
          "$bin" --bench loop "$path" >"out/cachegrind-$path.txt" 2>"out/cachegrind-$path.log"
      done
      # Both loops read an event before each request and share the same setup, so the difference
      # per request is the handler's work beyond the direct call's.
      awk '
        FNR == 1 { path = (FILENAME ~ /handler/) ? "handler" : "direct" }
        /requests,/ { n[path] = $2 }
        /I +refs:/ { gsub(",", "", $4); ir[path] = $4 }
        /I1 +misses:/ { gsub(",", "", $4); i1[path] = $4 }
        /D1 +misses:/ { gsub(",", "", $4); d1[path] = $4 }
        END {
          r = n["direct"]
          printf "per request     %12s %12s %12s\n", "direct", "handler", "extra"
          printf "instructions    %12.0f %12.0f %12.0f\n", ir["direct"] / r, ir["handler"] / r, (ir["handler"] - ir["direct"]) / r
          printf "I1 misses       %12.0f %12.0f %12.0f\n", i1["direct"] / r, i1["handler"] / r, (i1["handler"] - i1["direct"]) / r
          printf "D1 misses       %12.0f %12.0f %12.0f\n", d1["direct"] / r, d1["handler"] / r, (d1["handler"] - d1["direct"]) / r
          printf "(%d requests each; cg_diff out/cachegrind-direct.out out/cachegrind-handler.out shows where)\n", r
        }' out/cachegrind-direct.txt out/cachegrind-direct.log out/cachegrind-handler.txt out/cachegrind-handler.log |
        tee out/bench-instructions.txt
      ;;
    worker)
      bash infra/install.sh
      say "worker: throughput vs a plain SDK loop on LocalStack (cargo bench -p switchyard-worker)"
      cargo bench --locked "${packages[@]}" --bench throughput | tee out/bench-worker.txt
      ;;
    *) die "unknown benchmark '$bench' (router or worker)" ;;
  esac
done
