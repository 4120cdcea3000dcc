#!/usr/bin/env bash
# Switchyard's service benchmarks, numbers only (no assertions), each against a peer measured in
# the same run:
#   router  — per-request overhead of the router handler against a direct HTTP call to the same
#             loopback backend; time from process start to the first Runtime API `next` of the
#             release router against the floor's (infra/floor); and the release arm64 `bootstrap`
#             sizes of the router, the scaler and the floor, built as `sam build` builds them.
#   instructions — instructions and simulated cache misses per request of the router handler
#             against the direct call, counted by cachegrind (valgrind): deterministic where the
#             timed ratio moves by ±0.03 with the machine, so it shows what a change does to the
#             handler's own work. Not run by default.
#   rules   — routing-rule matching per request (switchyard-routing) at 10, 100 and 1 000 rules,
#             against the goal of 1 µs at 100; its own workspace (shared/balancing-bench).
#   health  — the health checker and draining on LocalStack with real servers (tests/tests/health.rs):
#             how long a broken server takes to be dropped and replaced, and a scale-in under load
#             with the drain hook against the same scale-in without it; backends as processes
#             (python3 http.server) stopped, killed and restarted under the router.
#   worker  — messages per second of one switchyard-worker against a plain receive/delete loop on
#             the same LocalStack queue; Auto Scaling protection calls per 1 000 messages.
# Usage: bash infra/bench.sh [router|instructions|rules|health|worker]...   (default: router and worker).
# Results: out/bench-*.txt, and docs/benchmarks.md, rewritten from every out/bench-*.txt present.
# The first run builds the SDK crates three ways (bench, release x86_64, release arm64): most of
# an hour on 2 cores.
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
      bash infra/install.sh
      export PATH="$TOOLS_VENV/bin:$PATH"
      # Release x86_64 binaries of the router and of the floor (lambda_runtime, aws-config and the
      # same four SDK clients, nothing else), built together so that features unify alike.
      say "router: release builds of the router and the floor (x86_64, for the cold start)"
      cargo build --locked --release -p router -p switchyard-floor --bin router --bin floor
      say "router: handler overhead and cold start against the floor (cargo bench -p router)"
      SWITCHYARD_ROUTER_BINARY="$CARGO_TARGET_DIR/release/router" SWITCHYARD_FLOOR_BINARY="$CARGO_TARGET_DIR/release/floor" \
        cargo bench --locked "${packages[@]}" --bench router | tee out/bench-router.txt
      # Built as `sam build` builds them: cargo lambda in each function's folder, release arm64.
      say "router: release arm64 bootstraps (cargo lambda build: router, scaler, floor, floor-calls)"
      declare -A sizes
      for dir in functions/router:router functions/scaler:scaler infra/floor:floor infra/floor:floor-calls; do
        (cd "${dir%%:*}" && cargo lambda build --release --arm64 --bin "${dir##*:}")
        sizes[${dir##*:}]=$(stat -c %s "$CARGO_TARGET_DIR/lambda/${dir##*:}/bootstrap")
      done
      for f in router scaler; do
        awk -v f="$f" -v s="${sizes[$f]}" -v floor="${sizes[floor]}" 'BEGIN {
          printf "bootstrap %-7s %9d bytes (%.2f MB), %.3f× the floor (goals: ≤ 1.1×, ≤ 5.5 MB)\n", f, s, s / 1e6, s / floor }' |
          tee -a out/bench-router.txt
      done
      printf 'bootstrap floor   %9d bytes (%.2f MB)\n' "${sizes[floor]}" "$(echo "${sizes[floor]} / 1000000" | bc -l)" |
        tee -a out/bench-router.txt
      # The floor plus the router's six SDK operations (infra/floor/src/calls.rs): what the router
      # weighs beyond the SDK code its calls need, which no choice of the router's removes.
      awk -v s="${sizes[router]}" -v c="${sizes[floor-calls]}" -v floor="${sizes[floor]}" 'BEGIN {
        printf "bootstrap floor with the router'"'"'s 6 SDK calls %d bytes (%.2f MB), %.3f× the floor; the router is %.3f× it\n", c, c / 1e6, c / floor, s / c }' |
        tee -a out/bench-router.txt
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
    rules)
      # shared/balancing-bench is its own workspace (pingora's dependencies stay out of the test
      # command's build); its rules bench measures switchyard-routing alone.
      say "rules: routing-rule matching per request at 10, 100 and 1 000 rules (criterion, ~2 min)"
      (cd shared/balancing-bench && cargo bench --locked --bench rules -- --noplot) >/dev/null
      python3 shared/balancing-bench/report.py "$CARGO_TARGET_DIR/criterion" |
        sed -n '/^rule matching/,$p' | tee out/bench-rules.txt
      echo "goal: ≤ 1 µs (1 000 ns) per request with 100 rules" | tee -a out/bench-rules.txt
      ;;
    health)
      bash infra/install.sh
      say "health: health checks and draining on LocalStack (cargo test --test health, ~1 min)"
      { cargo test --locked -p switchyard-tests --test health -- --nocapture --test-threads 1 2>&1
        cargo test --locked -p router --test backend_processes -- --nocapture --test-threads 1 2>&1; } |
        sed -n 's/^.*bench: //p' | tee out/bench-health.txt
      [[ -s out/bench-health.txt ]] || die "the health tests printed no numbers"
      ;;
    worker)
      bash infra/install.sh
      say "worker: throughput vs a plain SDK loop on LocalStack (cargo bench -p switchyard-worker)"
      cargo bench --locked "${packages[@]}" --bench throughput | tee out/bench-worker.txt
      ;;
    *) die "unknown benchmark '$bench' (router, instructions, rules, health or worker)" ;;
  esac
done

# docs/benchmarks.md: the numbers of the latest run of each benchmark, and how to get them again.
{
  echo "# Benchmarks"
  echo
  echo "Written by \`bash infra/bench.sh\` from its latest results (\`out/bench-*.txt\`); every number is"
  echo "measured against a peer in the same run. Machine: $(nproc) cores, $(uname -m), $(date -u +%Y-%m-%d)."
  for part in router instructions rules health worker; do
    [[ -f "out/bench-$part.txt" ]] || continue
    echo
    echo "## $part"
    echo
    echo "\`bash infra/bench.sh $part\`"
    echo
    echo '```'
    cat "out/bench-$part.txt"
    echo '```'
  done
} > docs/benchmarks.md
say "docs/benchmarks.md written"
