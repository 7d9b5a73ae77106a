#!/usr/bin/env python3
"""Runs the Autobahn|Testsuite (`wstest`) against websocat in both roles and compares the
results with the checked-in expectations (tests/autobahn/expected.json).

Server role: `websocat ws-l:127.0.0.1:PORT mirror:` is tested by `wstest -m fuzzingclient`.
Client role: `wstest -m fuzzingserver` is started, and for every case one
`websocat ws://127.0.0.1:PORT/runCase?case=N&agent=websocat mirror:` echoes what the suite
sends (text stays text, binary stays binary), then /updateReports writes the reports.

Exit status: 0 when every case matches its expectation (or is better than it), 1 when a
case got worse, 3 when `wstest` cannot be found.

Standard library only, so it runs wherever the suite runs.
"""

import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
EXPECTED = HERE / "expected.json"

# Case sets: `core` is RFC 6455 itself (cases 1-10); `full` adds permessage-deflate (12.*,
# 13.*). CI runs `full`: with a debug build cases 1-10 take about a minute and a half, the
# compression cases (with --arg=--permessage-deflate) about half an hour per role.
CASE_SETS = {
    "core": (["*"], ["12.*", "13.*"]),
    "full": (["*"], []),
    # What `cargo test` (and so CI) runs: every RFC 6455 case, and of permessage-deflate every
    # sub-category (each data set, each parameter combination) with its small messages (16 to
    # 1024 bytes) and one fragmented case (8 KiB in 256-byte fragments). The large ones only
    # measure wstest's own Python compression: the whole of 12-13 takes about 25 minutes per
    # role, this part a few.
    "ci": ([], []),
}
# Exact ids: wstest matches a pattern with `*` as a prefix (`12.*.1` would take 12.1.14 too).
CI_COMPRESSION = [
    f"{n}.{x}.{y}"
    for n, subcategories in ((12, 5), (13, 7))
    for x in range(1, subcategories + 1)
    for y in (1, 2, 3, 4, 11)
]
CASE_SETS["ci"] = (["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "8.*", "9.*", "10.*"]
                   + CI_COMPRESSION, [])

# Worst first: a case "got worse" when its rank drops below the expected one.
RANK = {"FAILED": 0, "WRONG CODE": 0, "UNCLEAN": 0, "UNIMPLEMENTED": 1, "INFORMATIONAL": 2, "NON-STRICT": 3, "OK": 4}
CASE_TIMEOUT = 120.0


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def find_wstest(given):
    """The wstest to use: --wstest, $WSTEST, the shared installer's prefix, then PATH."""
    for cand in (given, os.environ.get("WSTEST"), "/tmp/py2/bin/wstest", shutil.which("wstest")):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, limit=30.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port} within {limit} s")


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise RuntimeError("connection closed by the suite")
        buf += chunk
    return buf


def first_text_message(port, path):
    """A minimal client for the suite's control endpoints: does the opening handshake on
    `path`, returns the first data frame's payload (the suite sends unfragmented frames
    there), or None when the server closes first."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += read_exact(s, 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"{path}: no 101 from the suite: {head!r}")
        b0, b1 = read_exact(s, 2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(read_exact(s, 2), "big")
        elif n == 127:
            n = int.from_bytes(read_exact(s, 8), "big")
        payload = read_exact(s, n)
        # Close politely (masked, code 1000) so the suite finishes the request.
        mask = os.urandom(4)
        body = (1000).to_bytes(2, "big")
        s.sendall(bytes([0x88, 0x80 | len(body)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(body)))
        return None if b0 & 0x0F == 0x8 else payload


def spec_cases(args):
    if args.cases in CASE_SETS:
        return CASE_SETS[args.cases]
    return ([c.strip() for c in args.cases.split(",") if c.strip()], [])


def read_index(outdir):
    """Per case: (behavior, behaviorClose) from the suite's index.json."""
    index = json.loads((Path(outdir) / "index.json").read_text())
    [(_agent, cases)] = index.items()
    return {case: (r["behavior"], r["behaviorClose"]) for case, r in cases.items()}


def run_server_role(args, wstest, work):
    port = free_port()
    outdir = work / "server-reports"
    cases, exclude = spec_cases(args)
    spec = {
        "outdir": str(outdir),
        "servers": [{"agent": "websocat", "url": f"ws://127.0.0.1:{port}"}],
        "cases": cases,
        "exclude-cases": exclude,
        "exclude-agent-cases": {},
    }
    spec_path = work / "fuzzingclient.json"
    spec_path.write_text(json.dumps(spec))
    server_log = open(work / "websocat-server.log", "wb")
    server = subprocess.Popen(
        [args.websocat, "-q", *args.extra, f"ws-l:127.0.0.1:{port}", "mirror:"],
        stdin=subprocess.DEVNULL, stdout=server_log, stderr=server_log,
    )
    try:
        wait_port(port, server, "websocat server")
        log(f"server role: wstest fuzzingclient against ws://127.0.0.1:{port} ({', '.join(cases)})")
        with open(work / "wstest-fuzzingclient.log", "wb") as wlog:
            subprocess.run([wstest, "-m", "fuzzingclient", "-s", str(spec_path)],
                           cwd=work, stdout=wlog, stderr=wlog, check=True,
                           timeout=args.timeout)
    finally:
        server.kill()
        server.wait()
    return read_index(outdir)


def run_client_role(args, wstest, work):
    port = free_port()
    outdir = work / "client-reports"
    cases, exclude = spec_cases(args)
    spec = {
        "url": f"ws://127.0.0.1:{port}",
        "outdir": str(outdir),
        "cases": cases,
        "exclude-cases": exclude,
        "exclude-agent-cases": {},
    }
    spec_path = work / "fuzzingserver.json"
    spec_path.write_text(json.dumps(spec))
    wlog = open(work / "wstest-fuzzingserver.log", "wb")
    # --webport 0: no report web server (it would take port 8080, which may be in use).
    suite = subprocess.Popen([wstest, "-m", "fuzzingserver", "--webport", "0", "-s", str(spec_path)],
                             cwd=work, stdin=subprocess.DEVNULL, stdout=wlog, stderr=wlog)
    try:
        wait_port(port, suite, "wstest fuzzingserver")
        count = int(first_text_message(port, "/getCaseCount"))
        log(f"client role: {count} cases from wstest fuzzingserver on port {port}")
        client_log = open(work / "websocat-client.log", "wb")
        started = time.monotonic()
        for n in range(1, count + 1):
            url = f"ws://127.0.0.1:{port}/runCase?case={n}&agent=websocat"
            client_log.write(f"--- case {n}\n".encode())
            client_log.flush()
            try:
                subprocess.run([args.websocat, "-q", *args.extra, url, "mirror:"], stdin=subprocess.DEVNULL,
                               stdout=client_log, stderr=client_log, timeout=CASE_TIMEOUT)
            except subprocess.TimeoutExpired:
                log(f"client role: case {n} did not end within {CASE_TIMEOUT} s")
            if time.monotonic() - started > args.timeout:
                raise RuntimeError(f"client role: over {args.timeout} s after case {n}")
        first_text_message(port, "/updateReports?agent=websocat")
    finally:
        suite.kill()
        suite.wait()
    return read_index(outdir)


def summarize(results):
    counts = {}
    for behavior, _close in results.values():
        counts[behavior] = counts.get(behavior, 0) + 1
    return ", ".join(f"{k} {counts[k]}" for k in sorted(counts, key=lambda k: -RANK.get(k, -1)))


def compare(role, results, expected):
    """Lines describing cases that got worse than expected, and cases that got better."""
    worse, better = [], []
    for case, (behavior, close) in sorted(results.items(), key=lambda kv: case_key(kv[0])):
        want = expected.get(case)
        if want is None:
            worse.append(f"{role} {case}: no expectation recorded (got {behavior}/{close})")
            continue
        for field, got, exp in (("behavior", behavior, want[0]), ("behaviorClose", close, want[1])):
            if RANK.get(got, -1) < RANK.get(exp, -1):
                worse.append(f"{role} {case}: {field} {got}, expected {exp}")
            elif got != exp:
                better.append(f"{role} {case}: {field} {got}, expected {exp}")
    missing = sorted(set(expected) - set(results), key=case_key)
    return worse, better, missing


def case_key(case):
    return tuple(int(p) if p.isdigit() else 0 for p in case.split("."))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--websocat", help="binary to test (default: cargo build --release)")
    ap.add_argument("--wstest", help="wstest to use (default: $WSTEST, /tmp/py2/bin/wstest, PATH)")
    ap.add_argument("--arg", action="append", default=[], dest="extra",
                    help="extra argument for websocat (repeatable), e.g. --arg=-B16777216 for 1.x")
    ap.add_argument("--role", choices=["server", "client", "both"], default="both")
    ap.add_argument("--cases", default="core",
                    help="core (1-10), ci (1-10 and a sample of 12-13), full (all cases), or a comma "
                         "list like '7.*,9.1.1'")
    ap.add_argument("--update", action="store_true",
                    help="write the observed results into tests/autobahn/expected.json")
    ap.add_argument("--keep", help="keep the reports in this directory")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per role")
    args = ap.parse_args()

    wstest = find_wstest(args.wstest)
    if wstest is None:
        log("wstest not found: install it with ../shared/autobahn/setup.sh (this project's "
            "machines), the crossbario/autobahn-testsuite image, or pass --wstest PATH")
        return 3
    if not args.websocat:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        meta = json.loads(subprocess.run(["cargo", "metadata", "--format-version", "1",
                                          "--no-deps"], cwd=ROOT, check=True,
                                         capture_output=True).stdout)
        args.websocat = str(Path(meta["target_directory"]) / "release" / "websocat")

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="autobahn-"))
    work.mkdir(parents=True, exist_ok=True)
    expected_all = json.loads(EXPECTED.read_text()) if EXPECTED.exists() else {}
    roles = ["server", "client"] if args.role == "both" else [args.role]
    failed = False
    observed = {}
    for role in roles:
        t0 = time.monotonic()
        runner = run_server_role if role == "server" else run_client_role
        results = runner(args, wstest, work)
        observed[role] = results
        log(f"{role} role: {summarize(results)} ({time.monotonic() - t0:.0f} s)")
        worse, better, missing = compare(role, results, expected_all.get(role, {}))
        for line in better:
            log(f"better than expected (run with --update to record): {line}")
        if args.cases == "full":
            for case in missing:
                log(f"{role} {case}: expected a result, the suite reported none")
            failed |= bool(missing)
        for line in worse:
            log(f"WORSE: {line}")
        failed |= bool(worse)
    if args.update:
        for role, results in observed.items():
            merged = expected_all.setdefault(role, {})
            merged.update({case: list(v) for case, v in results.items()})
            expected_all[role] = dict(sorted(merged.items(), key=lambda kv: case_key(kv[0])))
        EXPECTED.write_text(json.dumps(expected_all, indent=1) + "\n")
        log(f"wrote {EXPECTED}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        log(f"reports kept in {work}")
    print(f"autobahn: {'FAILED' if failed else 'ok'} "
          + "; ".join(f"{r}: {summarize(observed[r])}" for r in observed))
    return 1 if failed and not args.update else 0


if __name__ == "__main__":
    sys.exit(main())
