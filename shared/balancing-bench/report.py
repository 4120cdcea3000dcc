"""Print the criterion results of benches/pick.rs as Markdown tables, with Switchyard/pingora ratios."""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1])


def mean_ns(group, bench, n):
    path = root / group / bench.replace("/", "_") / str(n) / "new" / "estimates.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["mean"]["point_estimate"]


sizes = [3, 100, 1000, 10000]
ours = ["round_robin", "sticky_ip", "sticky_ip_unbounded", "sticky_cookie", "least_connections", "power_of_two_choices"]
peer_of = {"round_robin": "round_robin", "sticky_ip": "consistent", "sticky_ip_unbounded": "consistent"}

print("ns per pick (mean), and Switchyard ÷ pingora where pingora has the same algorithm\n")
print("| algorithm | " + " | ".join(f"N={n}" for n in sizes) + " |")
print("| --- |" + " ---: |" * len(sizes))
for algo in ours:
    cells = []
    for n in sizes:
        t = mean_ns("pick", f"switchyard/{algo}", n)
        peer = peer_of.get(algo)
        p = mean_ns("pick", f"pingora/{peer}", n) if peer else None
        if t is None:
            cells.append("-")
        elif p:
            cells.append(f"{t:.1f} ({t / p:.2f}×)")
        else:
            cells.append(f"{t:.1f}")
    print(f"| switchyard {algo} | " + " | ".join(cells) + " |")
for peer in ["round_robin", "consistent"]:
    cells = [f"{v:.1f}" if (v := mean_ns("pick", f"pingora/{peer}", n)) else "-" for n in sizes]
    print(f"| pingora {peer} | " + " | ".join(cells) + " |")

print("\nrebuild on a discovery change, N = 1000 → 1001 (µs, mean)\n")
print("| selector | µs |")
print("| --- | ---: |")
for name in [f"switchyard/{a}" for a in ours if a != "sticky_ip_unbounded"] + ["pingora/round_robin", "pingora/consistent"]:
    v = mean_ns("rebuild", name, 1000)
    print(f"| {name} | {v / 1000:.1f} |" if v else f"| {name} | - |")

# benches/rules.rs (switchyard-routing): printed when it has been run.
if (root / "rules").exists():
    rule_counts = [10, 100, 1000]
    print("\nrule matching, ns per request (mean): the last rule matches / no rule matches\n")
    print("| request | " + " | ".join(f"{n} rules" for n in rule_counts) + " |")
    print("| --- |" + " ---: |" * len(rule_counts))
    for bench, label in [("late_match", "matches the last rule"), ("no_match", "matches none (default action)")]:
        cells = [f"{v:.0f}" if (v := mean_ns("rules", bench, n)) else "-" for n in rule_counts]
        print(f"| {label} | " + " | ".join(cells) + " |")
    cells = [f"{v / 1e6:.2f}" if (v := mean_ns("rules_compile", "from_json", n)) else "-" for n in rule_counts]
    print("| compile the document (ms, once per load) | " + " | ".join(cells) + " |")
