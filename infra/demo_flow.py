"""The live part of Switchyard's local demo, run by infra/demo.sh once LocalStack is up, the
environment bootstrapped and the workspace built. Python's standard library, and boto3 (in the
LocalStack venv this runs in) to write the routing document's parameter.

1. Demo web servers on 127.0.0.1, one per instance of the web fleet (switchyard-local backends
   --follow, which also boots a server on each instance that joins the fleet later): the router
   discovers them through the group and the instances' endpoint tags.
2. The router binary under `cargo lambda watch --only-lambda-apis` (the Lambda Runtime API and a
   Function URL), once per algorithm, with HTTP traffic through the Function URL: the spread per
   server, cookie and client-IP stickiness, least connections steering around a loaded server.
3. A burst of jobs POSTed through the router onto SQS.
4. Routing rules (a routing document in SSM Parameter Store): a host rule and a path rule send
   requests to an `api` target group, the default action splits the rest 90/10 between the web
   fleet and a `v2` canary; the canary's weight is changed in the parameter while traffic flows
   and a malformed version is refused while traffic goes on.
5. The consumer fleet at work: the scaler Lambda under the Runtime API (`cargo lambda watch`), ticked every two
   seconds; one switchyard-consumer process per instance of the consumer group, started as the
   scaler adds instances, stopping by itself when its instance is removed. The queue drains, the
   fleet grows, holds for the stabilization window, shrinks, idles to zero and wakes for one job.
6. The web fleet idles to zero and wakes on the first request: a scaler sizing the web fleet
   (`idle_to_zero`) on the routers' request counts, a router with the wake on, its EMF lines
   shipped to CloudWatch (switchyard-local ship-emf) as CloudWatch Logs does on AWS. Steady
   requests keep one instance; without them the fleet goes to zero after the idle time; one GET
   wakes it, is held while the instance boots its server, and is answered.
7. Health checks and draining: the router's binary as the health checker, probing the web fleet's
   servers; one server's health path breaks, it is judged unhealthy and the group replaces it.
   Then a drain hook on the group and a scale-in from 4 to 2 under 20 clients whose POSTs take 1 s:
   the leaving servers wait until quiet, and no request fails.

Writes out/demo-fleet.svg (queue and fleet size over time), out/demo-web.svg (requests and web
fleet size over time), out/demo-summary.json, and prints a summary.
"""

import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter

BIN = os.environ["SWITCHYARD_BIN"]
TOOLS = os.environ["SWITCHYARD_TOOLS_BIN"]
ENDPOINT = os.environ["AWS_ENDPOINT_URL"]
OUT = os.environ.get("SWITCHYARD_OUT", "out")
QUEUE_URL = f"{ENDPOINT}/000000000000/switchyard-work"
NAMESPACE = "Switchyard/Demo"
TARGETS_NAMESPACE = "Switchyard/DemoTargets"
WINDOW_S, IDLE_S, TICK_S, WORK_MS = 10, 20, 2, 1000
WEB_GROUP = "switchyard-web"
# The web fleet's step: steady traffic, then the wake (a router holds a GET up to 15 s, looking for
# the woken instance every 250 ms).
TRAFFIC_S, REQUESTS_PER_S, WAKE_HOLD_MS, WAKE_POLL_MS = 10, 3, 15000, 250
# Health checks and draining: probes every 5 s (ALB's shortest interval); 20 clients whose POSTs
# take 1 s each; the routers' request limit (the drain's quiet period is it plus their 1 s discovery).
CHECK_INTERVAL_S, DRAIN_CLIENTS, DRAIN_WORK_MS, DRAIN_REQUEST_LIMIT_MS = 5, 20, 1000, 5000

processes = []


def say(text):
    print(f"\033[1m==>\033[0m {text}", file=sys.stderr, flush=True)


def start(name, command, env, cwd=None):
    """A child in its own session, logging to out/NAME.{out,err}; stopped at exit."""
    child = subprocess.Popen(
        command,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=open(os.path.join(OUT, f"{name}.out"), "w"),
        stderr=open(os.path.join(OUT, f"{name}.err"), "w"),
        start_new_session=True,
    )
    processes.append(child)
    return child


def stop(child, timeout=10):
    if child.poll() is None:
        try:
            os.killpg(child.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def stop_all():
    for child in reversed(processes):
        stop(child, timeout=5)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, what, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{what} did not listen on 127.0.0.1:{port} within {seconds} s (logs in {OUT}/)")


def aws_env(**extra):
    env = {k: v for k, v in os.environ.items() if k.startswith("AWS_") or k in ("PATH", "HOME", "RUST_LOG")}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def http_call(port, method, path, body=None, headers=None, timeout=30):
    """One HTTP exchange with cargo lambda's emulator: (status, headers, parsed JSON body or text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    raw = response.read().decode("utf-8", "replace")
    conn.close()
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = raw
    return response.status, response.getheaders(), parsed


def request(port, method, path, body=None, headers=None):
    """One request through the Function URL."""
    return http_call(port, method, f"/lambda-url/_{path}", body=body, headers=headers)


class UnderRuntimeApi:
    """A function binary under the Lambda Runtime API: `cargo lambda watch --only-lambda-apis`
    (Runtime API, Invoke API and Function URL), and the binary demo.sh built, started against it
    as Lambda starts `bootstrap`. Its logs are out/NAME.{out,err}."""

    def __init__(self, name, binary, **settings):
        self.port = free_port()
        self.emulator = start(
            f"{name}-emulator",
            [f"{TOOLS}/cargo-lambda", "lambda", "watch", "--only-lambda-apis", "--invoke-address", "127.0.0.1",
             "--invoke-port", str(self.port)],
            aws_env(),
        )
        wait_for_port(self.port, f"cargo lambda watch ({name})")
        env = aws_env(
            AWS_LAMBDA_RUNTIME_API=f"http://127.0.0.1:{self.port}/.rt",
            AWS_LAMBDA_FUNCTION_NAME="_",
            AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256,
            AWS_LAMBDA_LOG_FORMAT="JSON",
            **settings,
        )
        self.function = start(name, [f"{BIN}/{binary}"], env)

    def close(self):
        stop(self.function)
        stop(self.emulator)


# ---------------------------------------------------------------------------------------------
# 1-2. Servers and the router


def start_backends():
    child = start(
        "backends",
        [f"{BIN}/switchyard-local", "backends", "--count", "3", "--namespace", TARGETS_NAMESPACE, "--slow", "1",
         "--slow-ms", "8000", "--follow"],
        aws_env(),
    )
    path = os.path.join(OUT, "backends.out")
    deadline = time.time() + 30
    while time.time() < deadline:
        lines = follower_lines()
        if any("ready" in l for l in lines):
            return [l for l in lines if "endpoint" in l]
        if child.poll() is not None:
            sys.exit(f"the demo servers stopped: {open(os.path.join(OUT, 'backends.err')).read()}")
        time.sleep(0.1)
    sys.exit("the demo servers did not start within 30 s")


def follower_lines():
    """The JSON lines the demo servers' follower has printed so far (a line still being written
    waits for the next read)."""
    with open(os.path.join(OUT, "backends.out")) as f:
        return [json.loads(l) for l in f if l.endswith("\n") and l.strip()]


def live_servers():
    """The follower's servers running now, by instance."""
    live = {}
    for line in follower_lines():
        if "endpoint" in line:
            live[line["instance"]] = line
        elif "stopped" in line:
            live.pop(line["instance"], None)
    return live


def RouterUnderRuntimeApi(algorithm, name=None, **settings):
    """The router with one algorithm, discovering the web fleet, its jobs route on the work queue."""
    return UnderRuntimeApi(
        name or f"router-{algorithm}",
        "router",
        SWITCHYARD_TARGET_GROUP="switchyard-web",
        SWITCHYARD_ALGORITHM=algorithm,
        SWITCHYARD_STICKY_SECRET="local-demo-sticky-secret-not-for-production",
        SWITCHYARD_JOBS_ROUTE="POST /jobs",
        SWITCHYARD_WORK_QUEUE_URL=QUEUE_URL,
        SWITCHYARD_METRICS_NAMESPACE=NAMESPACE,
        **settings,
    )


def spread(port, n, path="/products", cookie_jar=None):
    """n sequential GETs; which server answered each."""
    served = []
    for i in range(n):
        headers = {"cookie": cookie_jar["cookie"]} if cookie_jar and cookie_jar.get("cookie") else {}
        status, response_headers, body = request(port, "GET", f"{path}/{i}", headers=headers)
        if status != 200:
            sys.exit(f"GET {path}/{i} answered {status}: {body}")
        served.append(body["backend"])
        if cookie_jar is not None:
            for k, v in response_headers:
                if k.lower() == "set-cookie" and v.startswith("switchyard="):
                    cookie_jar["cookie"] = v.split(";")[0]
    return served


def router_tour(backends):
    names = sorted(b["name"] for b in backends)
    rows = []

    def row(algorithm, what, counts, verdict):
        rows.append((algorithm, what, "  ".join(f"{n}:{counts.get(n, 0):>3}" for n in names), verdict))
        print(f"  {algorithm:<18} {what:<34} {rows[-1][2]}   {verdict}", flush=True)

    say("round robin: 30 requests")
    r = RouterUnderRuntimeApi("round_robin")
    counts = Counter(spread(r.port, 30))
    row("round_robin", "30 requests", counts, "even" if max(counts.values()) - min(counts.values()) <= 1 else "UNEVEN")
    r.close()

    say("sticky cookie: 4 clients, 8 requests each, each keeping its cookie")
    r = RouterUnderRuntimeApi("sticky_cookie")
    held = 0
    for client in range(4):
        jar = {}
        served = spread(r.port, 8, path=f"/cart/{client}", cookie_jar=jar)
        held += len(set(served)) == 1
        row("sticky_cookie", f"client {client}: 8 requests", Counter(served),
            "stuck to one server" if len(set(served)) == 1 else "MOVED")
    r.close()

    say("sticky client IP: 20 requests from this machine's address")
    r = RouterUnderRuntimeApi("sticky_ip")
    served = spread(r.port, 20)
    row("sticky_ip", "20 requests, one client IP", Counter(served),
        "stuck to one server" if len(set(served)) == 1 else "MOVED")
    r.close()

    say("least connections: web-0 holds 6 long requests from 'other routers'; it reports them to CloudWatch")
    loaded = next(b for b in backends if b["name"] == "web-0")
    host, port = loaded["endpoint"].split(":")

    def hold():
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            conn.request("GET", "/slow/held-by-another-router")
            conn.getresponse().read()
        except OSError:
            pass

    holders = [threading.Thread(target=hold, daemon=True) for _ in range(6)]
    for t in holders:
        t.start()
    r = RouterUnderRuntimeApi(
        "least_connections",
        SWITCHYARD_LOAD_NAMESPACE=TARGETS_NAMESPACE,
        SWITCHYARD_LOAD_METRIC="ActiveConnections",
        SWITCHYARD_LOAD_DIMENSION="InstanceId",
        SWITCHYARD_LOAD_PERIOD_SECS=1,
        SWITCHYARD_LOAD_REFRESH_SECS=1,
        SWITCHYARD_LOAD_FADE_SECS=10,
    )
    time.sleep(2.5)  # two reports from the servers, one read by the router
    spread(r.port, 1)  # the first request starts the background read of the reports
    time.sleep(1.5)
    counts = Counter(spread(r.port, 30))
    row("least_connections", "30 requests, web-0 loaded elsewhere", counts,
        "steered around web-0" if counts.get("web-0", 0) <= 3 else "did NOT avoid web-0")

    say("a burst of 60 jobs POSTed through the router onto SQS")
    accepted, refused = 0, 0
    for i in range(60):
        status, _, body = request(r.port, "POST", "/jobs", body=json.dumps({"job": i, "work_ms": WORK_MS}),
                                  headers={"content-type": "application/json"})
        if status == 202 and body.get("message_id"):
            accepted += 1
        else:
            refused += 1
    print(f"  POST /jobs × 60: {accepted} × 202 with a message id, {refused} refused", flush=True)
    r.close()
    return rows, accepted


# ---------------------------------------------------------------------------------------------
# Routing rules over two fleets, and a canary changed live


def demo_server(name):
    """A demo server on 127.0.0.1 answering every GET with its name, as the fleets' servers do."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"backend": name}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"127.0.0.1:{server.server_address[1]}"


def routing_document(api, v2, v2_weight):
    """The web fleet (its Auto Scaling group) and two more target groups: `api` behind a host and
    a path rule, and `web-v2`, a canary taking `v2_weight` % of the rest."""
    return json.dumps({
        "target_groups": {
            "web": {"discovery": {"type": "auto_scaling_group", "name": "switchyard-web", "port": 80}},
            "web-v2": {"discovery": {"type": "static", "targets": [v2]}},
            "api": {"discovery": {"type": "static", "targets": [api]}},
        },
        "rules": [
            {"priority": 10, "conditions": [{"field": "host_header", "values": ["api.example.com"]}],
             "action": {"type": "forward", "target_group": "api"}},
            {"priority": 20, "conditions": [{"field": "path_pattern", "values": ["/api/*"]}],
             "action": {"type": "forward", "target_group": "api"}},
        ],
        "default_action": {"type": "weighted_forward", "target_groups": [
            {"name": "web", "weight": 100 - v2_weight}, {"name": "web-v2", "weight": v2_weight}]},
    })


def routing_tour():
    """Host and path rules to an `api` group, a 90/10 canary, the canary's weight changed in the
    SSM parameter while traffic flows, and a malformed version refused while traffic goes on."""
    import boto3  # the AWS SDK for Python, from the LocalStack venv this script runs in

    ssm = boto3.client("ssm", endpoint_url=ENDPOINT)
    api, v2 = demo_server("api"), demo_server("v2")
    parameter = "/switchyard/demo/routes"

    def put(value):
        ssm.put_parameter(Name=parameter, Value=value, Type="String", Overwrite=True)

    put(routing_document(api, v2, 10))
    r = UnderRuntimeApi("router-routes", "router", SWITCHYARD_ROUTES_PARAMETER=parameter,
                        SWITCHYARD_ROUTES_REFRESH_SECS=1, SWITCHYARD_DISCOVERY_TTL_SECS=2,
                        SWITCHYARD_METRICS_NAMESPACE=NAMESPACE)
    rows = []

    def row(what, counts, verdict):
        shown = "  ".join(f"{k}:{v:>3}" for k, v in sorted(counts.items()))
        rows.append((what, dict(counts), verdict))
        print(f"  {what:<44} {shown:<34} {verdict}", flush=True)

    def served(n, path="/", host="www.example.com"):
        counts = Counter()
        for i in range(n):
            status, _, body = request(r.port, "GET", f"{path}" if n == 1 else f"{path}?i={i}", headers={"host": host})
            if status != 200:
                sys.exit(f"GET {path} (Host {host}) answered {status}: {body}")
            backend = body["backend"]
            counts["web" if backend.startswith("web-") else backend] += 1
        return counts

    try:
        c = served(5, "/", "api.example.com")
        row("Host: api.example.com (rule 10)", c, "api" if set(c) == {"api"} else "WRONG GROUP")
        c = served(5, "/api/orders")
        row("GET /api/orders (rule 20)", c, "api" if set(c) == {"api"} else "WRONG GROUP")
        c = served(300)
        share = c["v2"] / 300
        row("300 × GET / (default: web 90, v2 10)", c,
            f"canary {share:.0%}" + ("" if 0.05 <= share <= 0.16 else "  OUT OF BOUNDS"))
        put(routing_document(api, v2, 50))
        # Every router environment reads the parameter again within its refresh period (1 s here).
        took = 1.5
        time.sleep(took)
        c = served(300)
        share = c["v2"] / 300
        row(f"weights → 50/50 in the parameter, {took:.1f} s later", c,
            f"canary {share:.0%}" + ("" if 0.4 <= share <= 0.6 else "  OUT OF BOUNDS"))
        put('{"target_groups": {"web": ')
        time.sleep(2)
        c = served(50)
        refused = any("routing document refused" in l for l in open(os.path.join(OUT, "router-routes.out")))
        row("malformed version put; traffic goes on", c,
            "refused, last good serves" if refused and sum(c.values()) == 50 else "NOT REFUSED")
        if any("WRONG" in v or "OUT OF" in v or "NOT" in v for _, _, v in rows):
            sys.exit("the routing tour went wrong (see above)")
        return rows, took
    finally:
        r.close()


# ---------------------------------------------------------------------------------------------
# 4. The consumer fleet with the scaler


def status():
    out = subprocess.run([f"{BIN}/switchyard-local", "status", "--json"], env=aws_env(), capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


CONSUMER_FLEET = {
    "name": "workers", "group": "switchyard-workers", "role": "consumer", "queue_url": QUEUE_URL,
    "backlog_per_instance": 10, "age_slo_seconds": 120, "per_instance_rate": 1,
}


class Scaler:
    """The scaler Lambda under the Runtime API for one fleet, invoked through the emulator's Invoke
    API (what EventBridge does every minute on AWS)."""

    def __init__(self, name="scaler", fleet=CONSUMER_FLEET):
        # Compressed clock: 1 s history, a 10 s stabilization window, zero after 20 s idle; CloudWatch
        # datapoints older than 15 s count as missing. Waking takes at most 5 s here (one 2 s tick,
        # then a process starts; no instance boots), well within the workers' 120 s SLO: with the
        # default of 150 s (a real boot) the scaler would keep one worker warm instead of idling.
        self.name = name
        self.lambda_ = UnderRuntimeApi(
            name,
            "scaler",
            SWITCHYARD_FLEETS=json.dumps([fleet]),
            SWITCHYARD_HISTORY_PERIOD_SECS=1,
            SWITCHYARD_SCALE_DOWN_WINDOW_SECS=WINDOW_S,
            SWITCHYARD_SCALE_UP_PERIOD_SECS=1,
            SWITCHYARD_SCALE_TO_ZERO_AFTER_SECS=IDLE_S,
            SWITCHYARD_WAKE_FROM_ZERO_SECS=5,
            SWITCHYARD_METRIC_MAX_AGE_SECS=15,
            SWITCHYARD_METRICS_NAMESPACE=NAMESPACE,
        )

    def tick(self):
        status_code, headers, report = http_call(
            self.lambda_.port, "POST", "/2015-03-31/functions/_/invocations", body='{"dry_run": false}',
            headers={"content-type": "application/json"}, timeout=60)
        if status_code != 200 or any(k.lower() == "x-amz-function-error" for k, _ in headers) \
                or not isinstance(report, dict):
            sys.exit(f"the scaler invocation failed ({status_code}): {str(report)[-2000:]} (log: {OUT}/{self.name}.err)")
        for failure in report.get("failed", []):
            sys.exit(f"the scaler failed on {failure['fleet']}: {failure['error']}")
        return report["fleets"][0]

    def close(self):
        self.lambda_.close()


def consumer(instance):
    return start(f"consumer-{instance}", [f"{BIN}/switchyard-consumer"], aws_env(
        SWITCHYARD_QUEUE_URL=QUEUE_URL,
        SWITCHYARD_INSTANCE_ID=instance,
        SWITCHYARD_CONCURRENCY=1,
        SWITCHYARD_WAIT_SECS=1,
        SWITCHYARD_VISIBILITY_SECS=10,
        SWITCHYARD_LIFECYCLE_CHECK_SECS=1,
        SWITCHYARD_PROTECTION_IDLE_SECS=1,
        SWITCHYARD_FLEET="workers",
        SWITCHYARD_METRICS_NAMESPACE=NAMESPACE,
        SWITCHYARD_ACTIVITY_INTERVAL_SECS=1,
        SWITCHYARD_WORK_MS=WORK_MS,
        RUST_LOG="warn",
    ))


def processed_jobs(instances):
    count = 0
    for instance in instances:
        path = os.path.join(OUT, f"consumer-{instance}.out")
        if os.path.exists(path):
            count += sum(1 for l in open(path) if '"event":"processed"' in l)
    return count


def fleet_at_work(jobs, one_more):
    scaler = Scaler()
    workers, started = {}, time.time()
    timeline = []
    phase, woke = "burst", False
    try:
        while time.time() - started < 240:
            decision = scaler.tick()
            groups = {g["name"]: g for g in status()["groups"]}
            group = groups["switchyard-workers"]
            in_service = [i["instance_id"] for i in group["instances"] if i["lifecycle_state"] == "InService"]
            protected = sum(1 for i in group["instances"] if i["protected_from_scale_in"])
            for instance in in_service:
                if instance not in workers:
                    workers[instance] = consumer(instance)
            alive = sum(1 for w in workers.values() if w.poll() is None)
            queue = decision.get("queue", {})
            done = processed_jobs(workers)
            t = time.time() - started
            timeline.append((t, queue.get("visible", 0) + queue.get("in_flight", 0), decision["desired"], alive))
            print(f"  t={t:5.1f}s  queue {queue.get('visible', 0):>3} waiting {queue.get('in_flight', 0):>2} in flight"
                  f"  fleet {decision['current']:>2} → {decision['desired']:<2}  workers {alive:>2}"
                  f" ({protected} protected)  processed {done:>3}/{jobs + (1 if woke else 0)}"
                  f"   {decision['steps'][-1]}", flush=True)
            # The late job comes once the fleet is at zero and its last worker has noticed and
            # exited: otherwise that worker takes the job on its way out and nothing needs waking.
            if phase == "burst" and done >= jobs and decision["desired"] == 0 and alive == 0:
                phase = "woke"
                woke = True
                one_more()
                print("  one job arrives", flush=True)
            elif phase == "woke" and done >= jobs + 1:
                break
            time.sleep(TICK_S)
    finally:
        scaler.close()
        for w in workers.values():
            stop(w)
    summaries = []
    for instance in workers:
        path = os.path.join(OUT, f"consumer-{instance}.out")
        summaries += [json.loads(l) for l in open(path) if '"event":"summary"' in l]
    return timeline, processed_jobs(workers), summaries


def steps(points, held="after"):
    """A series as steps: each value holds from its sample on (`after`), or over the interval
    that ends at its sample (`before`: a rate measured over that interval)."""
    out = points[:1]
    for (t0, v0), (t1, v1) in zip(points, points[1:]):
        out += [(t1, v0), (t1, v1)] if held == "after" else [(t0, v1), (t1, v1)]
    return out


def chart(path, title, left, right, marks=(), right_top=None):
    """Two series over time as a small SVG line chart, one on each axis. `left` and `right` are
    (label, colour, [(t, value)]); `marks` are (t, label) drawn as dashed vertical lines;
    `right_top` is the right axis' top (its series' largest value by default)."""
    width, height, pad = 760, 300, 50
    everything = left[2] + right[2]
    t0 = min(t for t, _ in everything)
    t_max = max(t - t0 for t, _ in everything) or 1
    l_max = max(max(v for _, v in left[2]), 1)
    r_max = right_top or max(max(v for _, v in right[2]), 1)

    def x(t):
        return pad + (width - 2 * pad) * (t - t0) / t_max

    def y(v, top):
        return height - pad - (height - 2 * pad) * v / top

    def line(points, top, color):
        coords = " ".join(f"{x(t):.1f},{y(v, top):.1f}" for t, v in points)
        return f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{coords}"/>'

    (l_label, l_color, l_points), (r_label, r_color, r_points) = left, right
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="DejaVu Sans, sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{pad}" y="20" font-size="14">{title}</text>',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#444"/>',
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#444"/>',
        f'<line x1="{width - pad}" y1="{pad}" x2="{width - pad}" y2="{height - pad}" stroke="#444"/>',
        f'<text x="{width / 2}" y="{height - 15}" text-anchor="middle">seconds (scaler tick every {TICK_S} s)</text>',
        f'<text x="{pad - 8}" y="{pad}" text-anchor="end" fill="{l_color}">{l_max:.3g}</text>',
        f'<text x="{pad - 8}" y="{height - pad}" text-anchor="end" fill="{l_color}">0</text>',
        f'<text x="{width - pad + 8}" y="{pad}" fill="{r_color}">{r_max:.3g}</text>',
        f'<text x="{width - pad + 8}" y="{height - pad}" fill="{r_color}">0</text>',
        f'<text x="{width - pad}" y="{height - pad + 16}" text-anchor="end">{t_max:.0f}</text>',
    ]
    for t, label in marks:
        svg += [
            f'<line x1="{x(t):.1f}" y1="{pad}" x2="{x(t):.1f}" y2="{height - pad}" stroke="#888" stroke-dasharray="4,3"/>',
            f'<text x="{x(t) - 4:.1f}" y="{pad + 44}" text-anchor="end" fill="#444">{label}</text>',
        ]
    svg += [
        line(l_points, l_max, l_color),
        line(r_points, r_max, r_color),
        f'<text x="{pad + 10}" y="{pad + 10}" fill="{l_color}">{l_label} (left axis)</text>',
        f'<text x="{pad + 10}" y="{pad + 26}" fill="{r_color}">{r_label} (right axis)</text>',
        "</svg>",
    ]
    with open(path, "w") as f:
        f.write("\n".join(svg))


def plot(timeline, path):
    """Queue depth and fleet size over time."""
    chart(path, "Switchyard demo: work queue and consumer fleet over time",
          ("messages in the queue", "#1f77b4", [(t, q) for t, q, _, _ in timeline]),
          ("consumer fleet desired capacity", "#d62728", [(t, d) for t, _, d, _ in timeline]))


# ---------------------------------------------------------------------------------------------
# 6. The web fleet idles to zero and wakes on the first request


def switchyard_local(*args):
    """One switchyard-local command; its stdout. A failure stops the demo with its message."""
    out = subprocess.run([f"{BIN}/switchyard-local", *args], env=aws_env(), capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"switchyard-local {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout


class EmfShipper:
    """What CloudWatch Logs does on AWS with the EMF lines a function prints, for one local
    function's stdout log (switchyard-local ship-emf), from where the last shipment ended."""

    def __init__(self, name):
        self.log = os.path.join(OUT, f"{name}.out")
        self.offset, self.data, self.malformed = 0, 0, 0

    def ship(self):
        shipped = json.loads(switchyard_local("ship-emf", self.log, "--from", str(self.offset)))
        self.offset = shipped["offset"]
        self.data += shipped["data"]
        self.malformed += shipped["malformed"]
        return shipped


def web_group_status():
    """The web group as `switchyard-local status` shows it."""
    return next(g for g in status()["groups"] if g["name"] == WEB_GROUP)


def web_group():
    """The web fleet now: desired capacity, InService instances, every instance's state."""
    group = web_group_status()
    states = [i["lifecycle_state"] for i in group["instances"]]
    return group["desired"], states.count("InService"), states


def web_fleet_wakes():
    switchyard_local("resize", "--role", "web", "--min", "0", "--desired", "1")
    deadline = time.time() + 15
    while not (len(live_servers()) == 1 and web_group()[1] == 1):
        if time.time() > deadline:
            sys.exit(f"the web fleet did not settle at one instance with one server: {web_group()}, "
                     f"servers {sorted(live_servers())} (log: {OUT}/backends.err)")
        time.sleep(0.5)
    (server,) = live_servers().values()
    print(f"  web fleet at 1 instance, minimum 0: {server['name']} serves {server['instance']}", flush=True)

    fleet = {
        "name": "web", "group": WEB_GROUP, "role": "web", "min": 0, "idle_to_zero": True,
        # The servers' open connections, averaged over the group (a web fleet needs a metric; at a
        # few quick requests a second it asks for none: the request counts keep the instance).
        "metrics": [{"namespace": TARGETS_NAMESPACE, "name": "ActiveConnections",
                     "dimensions": {"AutoScalingGroupName": WEB_GROUP}, "statistic": "Average", "period": 1,
                     "target": 5}],
    }
    scaler = Scaler("scaler-web", fleet)
    router = RouterUnderRuntimeApi(
        "round_robin",
        name="router-wake",
        SWITCHYARD_DISCOVERY_TTL_SECS=1,
        SWITCHYARD_METRICS_INTERVAL_SECS=1,
        SWITCHYARD_WAKE_SIZE=1,
        SWITCHYARD_WAKE_HOLD_MS=WAKE_HOLD_MS,
        SWITCHYARD_WAKE_POLL_MS=WAKE_POLL_MS,
    )
    shipper = EmfShipper("router-wake")
    started = time.time()
    # (t, requests per second since the previous point, desired, InService)
    timeline = [(0.0, 0.0, 1, 1)]

    def tick(phase, requests):
        shipper.ship()
        decision = scaler.tick()
        desired, in_service, _ = web_group()
        t = time.time() - started
        timeline.append((t, requests / max(t - timeline[-1][0], 0.1), desired, in_service))
        print(f"  t={t:5.1f}s  {phase:<8} requests {requests:>2}  fleet {decision['current']} → {decision['desired']}"
              f"  InService {in_service}  servers {len(live_servers())}   {decision['steps'][-1]}", flush=True)
        return decision

    try:
        say(f"{REQUESTS_PER_S} requests a second for {TRAFFIC_S} s: the fleet stays at one instance")
        sent = 0
        while time.time() - started < TRAFFIC_S:
            batch = time.time()
            for i in range(TICK_S * REQUESTS_PER_S):
                status_code, _, body = request(router.port, "GET", f"/products/{sent}")
                if status_code != 200:
                    sys.exit(f"GET /products/{sent} answered {status_code} under steady traffic: {body}")
                sent += 1
                time.sleep(max(0.0, batch + (i + 1) / REQUESTS_PER_S - time.time()))
            decision = tick("traffic", TICK_S * REQUESTS_PER_S)
            if decision["desired"] != 1:
                sys.exit(f"the web fleet moved under steady traffic (no flapping expected): {decision['steps']}")

        say(f"no requests: the fleet goes to zero after {IDLE_S} s idle")
        last_request = time.time()
        while True:
            decision = tick("idle", 0)
            idle = time.time() - last_request
            desired, in_service, _ = web_group()
            if decision["desired"] == 0 and idle < IDLE_S - TICK_S:
                sys.exit(f"the web fleet went to zero after {idle:.0f} s, before its idle time of {IDLE_S} s")
            if desired == 0 and in_service == 0 and not live_servers():
                break
            if idle > IDLE_S + 30:
                sys.exit(f"the idle web fleet is not at zero {idle:.0f} s after the last request: {decision['steps']}")
            time.sleep(TICK_S)
        idle_to_zero_s = round(time.time() - last_request)
        # One more tick before the request: the router rediscovers the group every second in the
        # background, and until it has seen the group empty it still sends a request to the
        # instance that left (and fails: no wake).
        time.sleep(TICK_S)
        tick("idle", 0)
        print(f"  at zero {idle_to_zero_s} s after the last request; its server stopped with it", flush=True)

        say("one GET through the router: it wakes the fleet and is held until the instance serves")
        answer = {}

        def get():
            sent_at = time.time()
            conn = http.client.HTTPConnection("127.0.0.1", router.port, timeout=WAKE_HOLD_MS / 1000 + 15)
            try:
                conn.request("GET", "/lambda-url/_/products/wake")
                response = conn.getresponse()
                answer["first_byte_s"] = time.time() - sent_at
                answer["status"] = response.status
                answer["body"] = response.read().decode("utf-8", "replace")
            except OSError as e:
                answer["error"] = str(e)
            finally:
                conn.close()

        waiting = threading.Thread(target=get, daemon=True)
        wake_at = time.time()
        waiting.start()
        seen = [None]

        def show_changes():
            desired, in_service, states = web_group()
            servers = tuple(s["name"] for s in live_servers().values())
            if (desired, states, servers) != seen[0]:
                seen[0] = (desired, states, servers)
                t = time.time() - started
                timeline.append((t, 0, desired, in_service))
                print(f"  t={t:5.1f}s  +{time.time() - wake_at:4.2f}s  desired {desired}  instances "
                      f"{', '.join(states) or 'none'}  servers {', '.join(servers) or 'none'}", flush=True)

        next_tick = time.time() + TICK_S
        while waiting.is_alive() and time.time() - wake_at < WAKE_HOLD_MS / 1000 + 20:
            show_changes()
            if time.time() >= next_tick:
                tick("wake", 0)
                next_tick = time.time() + TICK_S
            time.sleep(0.1)
        waiting.join(1)
        show_changes()
        if answer.get("status") != 200:
            sys.exit(f"the held GET was not served: {answer or 'no answer'} (logs: {OUT}/router-wake.err, "
                     f"{OUT}/backends.err)")
        served_by = json.loads(answer["body"]).get("backend", "?")
        wake_ms = round(answer["first_byte_s"] * 1000)
        print(f"  GET /products/wake answered 200 by {served_by}: {wake_ms} ms from the request to its first byte",
              flush=True)

        say("the woken fleet stays up: the wake's request counts as activity")
        for _ in range(3):
            time.sleep(TICK_S)
            decision = tick("after", 0)
            if decision["desired"] != 1:
                sys.exit(f"the scaler undid the wake: {decision['steps']}")
        sizes = []
        for _, _, d, _ in timeline:
            if not sizes or sizes[-1] != d:
                sizes.append(d)
        if shipper.malformed:
            sys.exit(f"{shipper.malformed} of the router's EMF lines were malformed ({shipper.log})")
        plot_web(timeline, wake_at - started, wake_ms, os.path.join(OUT, "demo-web.svg"))
        return {"wake_to_first_byte_ms": wake_ms, "served_by": served_by, "idle_to_zero_s": idle_to_zero_s,
                "fleet_sizes": sizes, "requests": sent + 1, "emf_data_shipped": shipper.data}
    finally:
        router.close()
        scaler.close()


# ---------------------------------------------------------------------------------------------
# 7. Health checks and draining


class HealthChecker:
    """The router's binary as the health checker (SWITCHYARD_MODE=health_checker) under the Runtime
    API, invoked every second (on AWS its schedule invokes it every minute and each invocation
    probes every interval for most of that minute; here the emulator's deadline allows one round
    per invocation, and the checker starts a round only once one interval has passed)."""

    def __init__(self):
        self.lambda_ = UnderRuntimeApi(
            "health-checker", "router",
            SWITCHYARD_MODE="health_checker",
            SWITCHYARD_CHECK_GROUPS=WEB_GROUP,
            SWITCHYARD_HEALTH_CHECK_PATH="/health",
            SWITCHYARD_HEALTH_CHECK_INTERVAL_SECS=CHECK_INTERVAL_S,
            SWITCHYARD_HEALTH_CHECK_TIMEOUT_SECS=2,
            SWITCHYARD_HEALTHY_THRESHOLD=2,
            SWITCHYARD_UNHEALTHY_THRESHOLD=2,
            SWITCHYARD_DISCOVERY_TTL_SECS=1,
            SWITCHYARD_TIMEOUT_MS=DRAIN_REQUEST_LIMIT_MS,
            SWITCHYARD_DEREGISTRATION_DELAY_SECS=300,
            SWITCHYARD_CHECK_RUN_SECS=600,
            SWITCHYARD_METRICS_NAMESPACE=NAMESPACE,
        )
        self.running = True
        self.thread = threading.Thread(target=self.invoke_forever, daemon=True)
        self.thread.start()

    def invoke_forever(self):
        # An invocation probes only when a round is due (one interval after the last), so a
        # schedule faster than the interval changes nothing: once a second here.
        while self.running:
            try:
                http_call(self.lambda_.port, "POST", "/2015-03-31/functions/_/invocations", body="{}",
                          headers={"content-type": "application/json"}, timeout=700)
            except OSError:
                pass
            time.sleep(1)

    def close(self):
        self.running = False
        self.lambda_.close()


def instance_tags(ids):
    """Each instance's tags, by id (boto3 against LocalStack)."""
    import boto3

    ec2 = boto3.client("ec2", endpoint_url=ENDPOINT)
    found = ec2.describe_instances(InstanceIds=list(ids)) if ids else {"Reservations": []}
    return {i["InstanceId"]: {t["Key"]: t["Value"] for t in i.get("Tags", [])}
            for r in found["Reservations"] for i in r["Instances"]}


def group_states():
    """The web group's instances and their lifecycle states."""
    return {i["instance_id"]: i["lifecycle_state"] for i in web_group_status()["instances"]}


def wait_until(what, seconds, done, every=0.5):
    deadline = time.time() + seconds
    while not done():
        if time.time() > deadline:
            sys.exit(f"{what}: not within {seconds} s (logs: {OUT}/health-checker.err, {OUT}/backends.err)")
        time.sleep(every)


def web_fleet_heals_and_drains():
    import boto3

    autoscaling = boto3.client("autoscaling", endpoint_url=ENDPOINT)
    # New instances may be judged at once (AWS's default grace period is 300 s).
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=WEB_GROUP, HealthCheckGracePeriod=0)
    switchyard_local("resize", "--role", "web", "--min", "0", "--desired", "4")
    wait_until("four web servers", 60,
               lambda: len(live_servers()) == 4 and list(group_states().values()).count("InService") == 4)
    checker = HealthChecker()
    routers = []
    try:
        say(f"the health checker probes /health every {CHECK_INTERVAL_S} s; one server's health path breaks")
        wait_until("every server judged healthy", 30, lambda: all(
            t.get("switchyard:health", "").startswith("healthy:")
            for t in instance_tags(group_states()).values()))
        broken_instance, broken = sorted(live_servers().items())[0]
        host, port = broken["endpoint"].rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        conn.request("PUT", "/health", body="broken")
        conn.getresponse().read()
        conn.close()
        broke_at = time.time()
        print(f"  {broken['name']} ({broken_instance}) answers 503 on /health from now on", flush=True)
        marked_s = replaced_s = None
        while replaced_s is None:
            if time.time() - broke_at > 90:
                sys.exit(f"{broken_instance} was not replaced within 90 s (log: {OUT}/health-checker.err)")
            tag = instance_tags([broken_instance]).get(broken_instance, {}).get("switchyard:health", "")
            if marked_s is None and tag.startswith("unhealthy:"):
                marked_s = time.time() - broke_at
                print(f"  +{marked_s:4.1f}s  {broken_instance} judged unhealthy (2 failed probes in a row): "
                      f"routers drop it at their next discovery; marked Unhealthy in its group", flush=True)
            states = group_states()
            if broken_instance not in states and list(states.values()).count("InService") == 4 \
                    and len(live_servers()) == 4:
                replaced_s = time.time() - broke_at
                new = sorted(set(live_servers()) - {broken_instance})
                print(f"  +{replaced_s:4.1f}s  replaced: the group terminated it and launched another; "
                      f"servers now {', '.join(live_servers()[i]['name'] for i in new)}", flush=True)
            time.sleep(0.5)

        say(f"draining: the fleet goes from 4 to 2 under {DRAIN_CLIENTS} clients sending POSTs that take "
            f"{DRAIN_WORK_MS} ms")
        autoscaling.put_lifecycle_hook(
            AutoScalingGroupName=WEB_GROUP, LifecycleHookName="switchyard-drain",
            LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING", HeartbeatTimeout=300,
            DefaultResult="CONTINUE")
        routers.extend(RouterUnderRuntimeApi(
            "round_robin", name=f"router-drain-{i}", SWITCHYARD_DISCOVERY_TTL_SECS=1,
            SWITCHYARD_TIMEOUT_MS=DRAIN_REQUEST_LIMIT_MS, SWITCHYARD_METRICS_INTERVAL_SECS=0,
            AWS_LAMBDA_MAX_CONCURRENCY=DRAIN_CLIENTS) for i in range(2))
        counts = Counter()
        stop_clients = threading.Event()

        def client(c):
            router, i = routers[c % len(routers)], 0
            while not stop_clients.is_set():
                i += 1
                try:
                    status_code, _, _ = request(router.port, "POST", f"/orders/{c}-{i}?work_ms={DRAIN_WORK_MS}",
                                                body='{"order": 1}')
                except OSError:
                    status_code = "no answer"
                counts["requests"] += 1
                if status_code != 200:
                    counts[f"failed ({status_code})"] += 1

        threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(DRAIN_CLIENTS)]
        for t in threads:
            t.start()
        time.sleep(3)
        before = group_states()
        switchyard_local("resize", "--role", "web", "--min", "0", "--desired", "2")
        scaled_at = time.time()
        seen, left = {}, {}
        while len(left) < 2:
            if time.time() - scaled_at > 120:
                sys.exit(f"the leaving instances did not leave within 120 s: {group_states()}")
            states = group_states()
            for instance in before:
                state = states.get(instance)
                if state != "InService" and instance not in seen:
                    seen[instance] = time.time()
                    print(f"  +{seen[instance] - scaled_at:4.1f}s  {instance} {state or 'gone'}: routers stop "
                          f"picking it at their next discovery", flush=True)
                if state is None and instance not in left:
                    left[instance] = time.time()
                    print(f"  +{left[instance] - scaled_at:4.1f}s  {instance} let go after "
                          f"{left[instance] - seen[instance]:.1f} s (quiet), and terminated with its server",
                          flush=True)
            time.sleep(0.25)
        time.sleep(2)
        stop_clients.set()
        for t in threads:
            t.join(DRAIN_REQUEST_LIMIT_MS / 1000 + 5)
        failed = sum(v for k, v in counts.items() if k.startswith("failed"))
        print(f"  {counts['requests']} requests during the scale-in, {failed} failed"
              + (f": {dict(counts)}" if failed else ""), flush=True)
        if failed:
            sys.exit(f"{failed} requests failed during a drained scale-in (logs: {OUT}/router-drain-*.err)")
        return {"unhealthy_marked_s": round(marked_s, 1), "unhealthy_replaced_s": round(replaced_s, 1),
                "drain_requests": counts["requests"], "drain_failed": failed,
                "drain_held_s": [round(left[i] - seen[i], 1) for i in sorted(left)]}
    finally:
        for r in routers:
            r.close()
        checker.close()


def plot_web(timeline, wake_t, wake_ms, path):
    """Requests and the web fleet's size over time, the wake marked. The fleet's axis goes to one
    more than its largest size, so that its line does not hide the requests'."""
    chart(path, "Switchyard demo: the web fleet idles to zero and wakes on the first request",
          ("requests per second", "#1f77b4", steps([(t, r) for t, r, _, _ in timeline], held="before")),
          ("web fleet desired capacity", "#d62728", steps([(t, d) for t, _, d, _ in timeline])),
          marks=[(wake_t, f"GET: wake, first byte after {wake_ms} ms")],
          right_top=max(d for _, _, d, _ in timeline) + 1)


def main():
    os.makedirs(OUT, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        say("3/8 demo web servers, one per web-fleet instance, tagged with their endpoints")
        backends = start_backends()
        for b in backends:
            print(f"  {b['name']}  {b['instance']}  http://{b['endpoint']}"
                  f"{'  (slow on /slow: 8 s)' if b['delay_ms'] else ''}", flush=True)
        say("4/8 the router Lambda under the Lambda Runtime API (cargo lambda), one run per algorithm")
        rows, accepted = router_tour(backends)
        say("5/8 routing rules over two more target groups, and a canary changed live in SSM Parameter Store")
        routing_rows, weight_change_s = routing_tour()
        say("6/8 the consumer fleet drains the jobs while the scaler Lambda sizes it")
        last_router = {}

        def one_more():
            r = RouterUnderRuntimeApi("round_robin")
            status_code, _, body = request(r.port, "POST", "/jobs", body='{"job": "late"}')
            last_router["status"] = status_code
            r.close()

        timeline, processed, summaries = fleet_at_work(accepted, one_more)
        plot(timeline, os.path.join(OUT, "demo-fleet.svg"))
        if processed < accepted + 1:
            sys.exit(f"only {processed} of {accepted + 1} jobs were processed")
        say("7/8 the web fleet idles to zero and wakes on the first request")
        web = web_fleet_wakes()
        sizes = []
        for _, _, d, _ in timeline:
            if not sizes or sizes[-1] != d:
                sizes.append(d)
        say("8/8 health checks find a broken server and replace it; a scale-in under traffic drains")
        health = web_fleet_heals_and_drains()
        calls = sum(s.get("protection_calls", 0) for s in summaries)
        released = sum(s.get("released", 0) for s in summaries)
        with open(os.path.join(OUT, "demo-summary.json"), "w") as f:
            json.dump({"router": rows, "jobs_accepted": accepted, "processed": processed, "fleet_sizes": sizes,
                       "protection_calls": calls, "released": released, "web_wake": web,
                       "routing": routing_rows, "routing_weight_change_s": weight_change_s,
                       "health_and_draining": health}, f, indent=2)
        print(f"""
Summary
  router             {len(rows)} runs under the Lambda Runtime API; per server:""")
        for algorithm, what, counts, verdict in rows:
            print(f"                       {algorithm:<18} {what:<34} {counts}   {verdict}")
        print(f"""  routing            host and path rules to the api group; a 90/10 canary; its weights changed in the
                     parameter served {weight_change_s:.1f} s later (refresh: 1 s); a malformed version refused
  jobs               {accepted} of 60 POSTs answered 202 with a message id, plus one late job
  consumer fleet     desired capacity over time: {' → '.join(map(str, sizes))}
  workers            {processed} jobs processed by {len(summaries)} worker processes; {calls} scale-in
                     protection calls in all; {released} released unfinished at a stop
                     (back to the queue, processed by another worker)
  web fleet          desired capacity over time: {' → '.join(map(str, web['fleet_sizes']))}; at zero
                     {web['idle_to_zero_s']} s after the last request; one GET woke it
  wake               {web['wake_to_first_byte_ms']} ms from the GET to its first byte (served by {web['served_by']})
  health checks      a broken server judged unhealthy {health['unhealthy_marked_s']} s after its health path broke,
                     replaced {health['unhealthy_replaced_s']} s after
  draining           4 → 2 under {DRAIN_CLIENTS} clients: {health['drain_failed']} of {health['drain_requests']} requests failed; the leaving
                     instances were let go after {' and '.join(f'{h} s' for h in health['drain_held_s'])} (quiet)
  plots              {OUT}/demo-fleet.svg and {OUT}/demo-web.svg (this run), {OUT}/spike.svg and .png
                     (the simulator)
  logs               {OUT}/ (router-*.err, consumer-*.out, scaler*.out, backends.out)""")
    finally:
        stop_all()


if __name__ == "__main__":
    main()
