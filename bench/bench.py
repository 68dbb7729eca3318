#!/usr/bin/env python3
"""Benchmark driver: the release `soracom-key-rotator` against the release `soracom-emulator`
and moto, side by side with the seed's approach (bench/seed_baseline.py).

Run it through `bench/run`, which builds the release binaries and starts moto
(MOTO_ENDPOINT). Everything listens on 127.0.0.1; every process has a timeout.

Per case (G groups, R of them referencing the rotated set) it measures:
- the tool: wall time, SORACOM calls by kind and HTTP statuses (GET /_emulator/stats),
  AWS calls are not counted here (the e2e test `scale.rs` asserts them), peak RSS from
  GNU time, and the lower bound;
- the baseline twice: with the emulator's default page size (it misses groups) and with
  one page large enough for all groups (a fair time comparison).

Lower bound (state the formula with the numbers):
  bound = (pages + 4) x latency + writes
  pages  = ceil(G / page size used by the tool)
  4      = auth, listCredentials, listEventHandlers, createCredential (each waits for the last)
  writes = ceil(R / concurrency) x latency            without a rate limit; with one
           (limit calls per fixed window), at least (ceil(R / limit) - 1) x window + latency
AWS calls (IAM/STS against moto, no latency added) are outside the bound.
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFIX = "aws-soracom-funnel-sample"
OLD_SET = f"{PREFIX}-220810"
AUTH_KEY_ID = "keyId-bench"
AUTH_KEY = "secret-bench-soracom-auth-key"
# Tool settings not under test: verification polls STS without pause (a policy wait, not
# API work); the rest are the tool's defaults unless given on the command line.
VERIFY = "[verify]\nsuccesses = 3\ninterval_ms = 0\ntimeout_seconds = 60\n"


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def http(method, url, body=None, timeout=60):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        raw = r.read()
        return json.loads(raw) if raw else None


class Moto:
    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def fresh_user(self, name):
        """Resets moto and creates `name` with one key; returns (key id, secret)."""
        http("POST", self.endpoint + "/moto-api/reset")
        self.iam.create_user(UserName=name)
        k = self.iam.create_access_key(UserName=name)["AccessKey"]
        return k["AccessKeyId"], k["SecretAccessKey"]


class EmulatorProc:
    """The release emulator seeded with the scale scenario; stopped on exit."""

    def __init__(self, binary, groups, referencing, key, latency_ms, page_size, rate):
        args = [
            binary, "--listen", "127.0.0.1:0", "--auth-key-id", AUTH_KEY_ID,
            "--seed", "scale", "--seed-groups", str(groups),
            "--seed-referencing", str(referencing),
            "--latency-ms", str(latency_ms), "--page-size", str(page_size),
        ]
        if rate:
            args += ["--rate-limit", str(rate[0]), "--rate-window-seconds", str(rate[1])]
        env = dict(os.environ, SORACOM_EMULATOR_AUTH_KEY=AUTH_KEY,
                   SEED_AWS_ACCESS_KEY_ID=key[0], SEED_AWS_SECRET_ACCESS_KEY=key[1],
                   RUST_LOG="warn")
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = [None]
        t = threading.Thread(target=lambda: line.__setitem__(0, self.proc.stdout.readline()))
        t.daemon = True
        t.start()
        t.join(30)
        m = re.match(r"listening on (http://127\.0\.0\.1:\d+)", line[0] or "")
        if not m:
            self.stop()
            raise RuntimeError(f"emulator did not start: {line[0]!r}")
        self.origin = m.group(1)

    def stats(self):
        return http("GET", self.origin + "/_emulator/stats")

    def funnel_refs(self):
        """credentialsId of every group's SoracomFunnel config, by group name."""
        state = http("GET", self.origin + "/_emulator/state", timeout=120)
        out = {}
        for g in state["groups"]:
            f = (g.get("configuration") or {}).get("SoracomFunnel")
            if f is not None:
                out[g["tags"]["name"]] = f.get("credentialsId")
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def aws_env(moto_endpoint):
    return {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def run_tool(a, moto, groups, referencing, rate, page_size, concurrency, emu_page):
    user = "bench-user"
    key = moto.fresh_user(user)
    emu = EmulatorProc(a.emulator, groups, referencing, key, a.latency_ms, emu_page, rate)
    try:
        with tempfile.TemporaryDirectory() as d:
            cfg = os.path.join(d, "bench.toml")
            soracom = f"[soracom]\npage_size = {page_size}\nconcurrency = {concurrency}\n"
            with open(cfg, "w") as f:
                f.write(soracom + "\n" + VERIFY + "\n[[targets]]\nname = \"bench\"\n"
                        f"iam_user = \"{user}\"\ncredential_prefix = \"{PREFIX}\"\n")
            env = dict(os.environ, HOME=d, SORACOM_ENDPOINT=emu.origin,
                       SORACOM_AUTH_KEY_ID=AUTH_KEY_ID, SORACOM_AUTH_KEY=AUTH_KEY,
                       AWS_CONFIG_FILE=os.path.join(d, "none"),
                       AWS_SHARED_CREDENTIALS_FILE=os.path.join(d, "none"),
                       **aws_env(moto.endpoint))
            cmd = [a.gnu_time, "-v", a.tool, "--config", cfg, "--output", "json", "rotate"]
            t0 = time.monotonic()
            p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=a.timeout)
            wall = time.monotonic() - t0
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
        rss_mb = int(m.group(1)) / 1024 if m else float("nan")
        try:
            report = json.loads(p.stdout)
            outcome = report["targets"][0]["outcome"]
            new_set = next((s["what"].split()[3] for s in report["targets"][0]["steps"]
                            if s["what"].startswith("created credential set")), None)
        except (ValueError, KeyError, IndexError):
            outcome, new_set = f"exit {p.returncode}", None
        stats = emu.stats()
        refs = emu.funnel_refs()
        left = sum(1 for v in refs.values() if v != new_set)
    finally:
        emu.stop()
    calls = stats["callCounts"]
    pages = math.ceil(groups / min(page_size, emu_page))
    fixed = (pages + 4) * a.latency_ms / 1000
    writes = math.ceil(referencing / concurrency) * a.latency_ms / 1000
    if rate:
        # Fixed windows: the first `limit` writes go at once, each further batch a window later.
        windows = (math.ceil(referencing / rate[0]) - 1) * rate[1] + a.latency_ms / 1000
        writes = max(writes, windows)
    return {
        "wall": wall, "rss_mb": rss_mb, "outcome": outcome, "exit": p.returncode,
        "calls": calls, "statuses": stats.get("statusCounts", {}), "left": left,
        "bound": fixed + writes, "pages": pages,
    }


def run_baseline(a, moto, groups, referencing, emu_page):
    user = "bench-user"
    key = moto.fresh_user(user)
    emu = EmulatorProc(a.emulator, groups, referencing, key, a.latency_ms, emu_page, None)
    try:
        env = dict(os.environ, SORACOM_ENDPOINT=emu.origin, SORACOM_AUTH_KEY_ID=AUTH_KEY_ID,
                   SORACOM_AUTH_KEY=AUTH_KEY, IAM_USER=user, CREDENTIAL_PREFIX=PREFIX,
                   **aws_env(moto.endpoint))
        t0 = time.monotonic()
        p = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "seed_baseline.py")],
                           env=env, capture_output=True, text=True, timeout=a.timeout)
        wall = time.monotonic() - t0
        if p.returncode != 0:
            raise RuntimeError(f"baseline failed: {p.stderr[-500:]}")
        refs = emu.funnel_refs()
        missed = sum(1 for v in refs.values() if v == OLD_SET)
    finally:
        emu.stop()
    return {"wall": wall, "missed": missed}


def help_time(a):
    if shutil.which("hyperfine"):
        with tempfile.NamedTemporaryFile(suffix=".json") as f:
            subprocess.run(["hyperfine", "-N", "--warmup", "5", "--runs", "50",
                            "--export-json", f.name, f"{a.tool} --help"],
                           check=True, capture_output=True, timeout=120)
            r = json.load(open(f.name))["results"][0]
            return r["mean"] * 1000, r["stddev"] * 1000, "hyperfine, 50 runs"
    samples = []
    for _ in range(50):
        t0 = time.monotonic()
        subprocess.run([a.tool, "--help"], check=True, capture_output=True, timeout=30)
        samples.append((time.monotonic() - t0) * 1000)
    mean = sum(samples) / len(samples)
    sd = (sum((s - mean) ** 2 for s in samples) / len(samples)) ** 0.5
    return mean, sd, "monotonic clock, 50 runs"


def machine():
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kb = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    except (OSError, StopIteration):
        mem_kb = 0
    return {"nproc": os.cpu_count(), "cpu": model, "mem_gib": round(mem_kb / 1048576, 1),
            "kernel": platform.release()}


def ratio_of(a, b):
    return f"{a / b:.2f}" if b > 0 else "-"


def fmt_calls(c):
    order = ["auth", "listCredentials", "listGroups", "listEventHandlers", "createCredential",
             "putConfigurationParameters"]
    short = {"auth": "auth", "listCredentials": "listCred", "listGroups": "listGroups",
             "listEventHandlers": "listEH", "createCredential": "create",
             "putConfigurationParameters": "PUT"}
    parts = [f"{short[k]} {c[k]}" for k in order if k in c]
    parts += [f"{k} {v}" for k, v in sorted(c.items()) if k not in order]
    return ", ".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tool", required=True)
    ap.add_argument("--emulator", required=True)
    ap.add_argument("--gnu-time", default="/usr/bin/time")
    ap.add_argument("--groups", default="1000,10000")
    ap.add_argument("--referencing-pct", default="10,100")
    ap.add_argument("--latency-ms", type=int, default=20)
    ap.add_argument("--rate-limit", type=int, default=0, help="calls per window per path; 0 = none")
    ap.add_argument("--rate-window-seconds", type=int, default=1)
    ap.add_argument("--page-size", type=int, default=1000, help="tool's [soracom] page_size (its default)")
    ap.add_argument("--concurrency", type=int, default=16, help="tool's [soracom] concurrency")
    ap.add_argument("--emulator-page-size", type=int, default=100, help="emulator's max page")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--extra", action="store_true",
                    help="also: a rate-limited case and a large-page case")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per process run")
    ap.add_argument("--out", default=os.path.join(ROOT, ".tmp", "bench"))
    a = ap.parse_args()
    moto = Moto(os.environ["MOTO_ENDPOINT"])
    rate = (a.rate_limit, a.rate_window_seconds) if a.rate_limit else None

    cases = []
    for g in [int(x) for x in a.groups.split(",")]:
        for pct in [int(x) for x in a.referencing_pct.split(",")]:
            cases.append({"G": g, "R": g * pct // 100, "rate": rate, "page": a.page_size,
                          "emu_page": a.emulator_page_size, "note": ""})
    if a.extra:
        g = max(int(x) for x in a.groups.split(","))
        cases.append({"G": 1000, "R": 100, "rate": (50, 1), "page": a.page_size,
                      "emu_page": a.emulator_page_size, "note": "limit 50/s"})
        cases.append({"G": g, "R": g // 10, "rate": rate, "page": 1000, "emu_page": 1000,
                      "note": "page 1000", "baseline": False})

    load_before = os.getloadavg()
    rows = []
    for c in cases:
        log(f"tool: G={c['G']} R={c['R']} {c['note']}")
        t = run_tool(a, moto, c["G"], c["R"], c["rate"], c["page"], a.concurrency, c["emu_page"])
        row = dict(c, tool=t)
        if not a.no_baseline and c.get("baseline", True) and not c["rate"]:
            log(f"baseline, emulator default page: G={c['G']} R={c['R']}")
            row["base_default"] = run_baseline(a, moto, c["G"], c["R"], a.emulator_page_size)
            log(f"baseline, one page of {c['G']}: G={c['G']} R={c['R']}")
            row["base_full"] = run_baseline(a, moto, c["G"], c["R"], c["G"])
        rows.append(row)

    load_after = os.getloadavg()
    help_ms, help_sd, help_how = help_time(a)
    size_mb = os.path.getsize(a.tool) / 1048576
    m = machine()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    lines = [
        f"Run {now} on {m['nproc']} CPUs ({m['cpu']}), {m['mem_gib']} GiB RAM, "
        f"Linux {m['kernel']}. Latency {a.latency_ms} ms per SORACOM call; tool "
        f"concurrency {a.concurrency}, page_size {a.page_size}; emulator max page "
        f"{a.emulator_page_size}; rate limit {'%d per %d s' % rate if rate else 'none'} "
        "unless noted. Load average (1 min) "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after (other work on the machine "
        "shows up as noise).",
        "",
        "| G | R | note | tool s | bound s | tool/bound | 429s | left | peak RSS MB "
        "| baseline s (1 page of 100) | missed | baseline s (1 page of G) | baseline/tool |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        t = r["tool"]
        bd, bf = r.get("base_default"), r.get("base_full")
        ratio = f"{bf['wall'] / t['wall']:.1f}x" if bf else "-"
        lines.append(
            f"| {r['G']} | {r['R']} | {r['note'] or '-'} | {t['wall']:.2f} | {t['bound']:.2f} "
            f"| {ratio_of(t['wall'], t['bound'])} | {t['statuses'].get('429', 0)} | {t['left']} "
            f"| {t['rss_mb']:.1f} | {bd['wall']:.2f} | {bd['missed']} | {bf['wall']:.2f} | {ratio} |"
            if bd and bf else
            f"| {r['G']} | {r['R']} | {r['note'] or '-'} | {t['wall']:.2f} | {t['bound']:.2f} "
            f"| {ratio_of(t['wall'], t['bound'])} | {t['statuses'].get('429', 0)} | {t['left']} "
            f"| {t['rss_mb']:.1f} | - | - | - | - |")
    lines += ["", "SORACOM calls of the tool per case (from `GET /_emulator/stats`):", ""]
    for r in rows:
        t = r["tool"]
        lines.append(f"- G={r['G']} R={r['R']}{' (' + r['note'] + ')' if r['note'] else ''}: "
                     f"{fmt_calls(t['calls'])}; outcome {t['outcome']}")
    lines += ["", f"Release binary `soracom-key-rotator`: {size_mb:.1f} MiB; "
              f"`soracom-key-rotator --help`: {help_ms:.1f} ms ± {help_sd:.1f} ({help_how})."]
    table = "\n".join(lines) + "\n"

    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "latest.md"), "w") as f:
        f.write(table)
    with open(os.path.join(a.out, "latest.json"), "w") as f:
        json.dump({"date": now, "machine": m, "rows": rows, "help_ms": help_ms,
                   "binary_mib": size_mb}, f, indent=1, default=str)
    print(table)
    bad = [r for r in rows if r["tool"]["outcome"] != "done" or r["tool"]["left"]]
    if bad:
        log(f"{len(bad)} case(s) did not finish cleanly")
        sys.exit(1)


if __name__ == "__main__":
    main()
