#!/usr/bin/env python3
"""`make bench-peers`: pyftpdlib's own benchmark, against forkftp and pyftpdlib.

Runs `scripts/ftpbench` of the pyftpdlib 2.2 source distribution (MIT), which
is fetched with pip into target/bench-peers/ at run time and never kept in
this repository, against `ftpserver` (release build, defaults but no
per-address limit, which pyftpdlib has none of either) and against
pyftpdlib's own server (`python3 -m pyftpdlib`, defaults), both started afresh
on free loopback ports for every run, interleaved: forkftp, pyftpdlib,
pyftpdlib, forkftp, ... so that a machine getting busier or quieter weighs on
both columns alike. Prints the median of each row for both, and the run-by-run
figures on standard error.

Each run starts after a pause (--settle, 10 s): on a VM whose balloon device
reports free memory to the host, memory freed a moment ago (the last run's
files) is written several times faster than memory freed seconds ago, which
would favour whichever server runs second. After the pause both start alike.

Two rows of our own follow pyftpdlib's, measured with ftplib the same way for
both servers: 1 GiB STORs to one name, one over the other, and to fresh names
(issue 15). Every STOR is timed from the command to its 226.

Only loopback addresses are used; every run is bounded in time.
"""
import argparse
import ftplib
import os
import pwd
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
CACHE = os.path.join(TOP, "target", "bench-peers")
PYFTPDLIB = "pyftpdlib==2.2.0"
USER, PASSWORD = "bench", "bench-password"
RUN_TIMEOUT = 600  # seconds for one run of pyftpdlib's script
READY_TIMEOUT = 20  # seconds for a server to greet
ROW = re.compile(r"^(?P<what>\S.*?)\s+(?P<value>[0-9.]+) (?P<unit>MB/sec|secs)\s*(?P<mem>\S+)?\s*$")


def log(msg):
    print("bench-peers: " + msg, file=sys.stderr, flush=True)


def fetch_ftpbench():
    """pyftpdlib's scripts/ftpbench from its source distribution (cached)."""
    script = os.path.join(CACHE, "ftpbench")
    if os.path.exists(script):
        return script
    os.makedirs(CACHE, exist_ok=True)
    log("fetching the %s source distribution with pip" % PYFTPDLIB)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
         "--no-binary", ":all:", "--no-deps", "-d", CACHE, PYFTPDLIB],
        check=True,
    )
    sdist = [f for f in os.listdir(CACHE) if f.startswith("pyftpdlib-") and f.endswith(".tar.gz")]
    if not sdist:
        sys.exit("bench-peers: pip left no pyftpdlib source distribution in " + CACHE)
    with tarfile.open(os.path.join(CACHE, sdist[0])) as t:
        member = next(m for m in t.getmembers() if m.name.endswith("/scripts/ftpbench"))
        with t.extractfile(member) as src, open(script + ".part", "wb") as dst:
            shutil.copyfileobj(src, dst)
    os.rename(script + ".part", script)
    return script


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_greeting(port, proc):
    deadline = time.time() + READY_TIMEOUT
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited with %s" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.settimeout(5)
                if s.recv(64).startswith(b"220"):
                    return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("no greeting on port %d within %d s" % (port, READY_TIMEOUT))


class Server:
    """One server under test, started afresh for each run."""

    def __init__(self, name, ftpserver):
        self.name = name
        self.ftpserver = ftpserver
        self.proc = None
        self.root = None

    def start(self):
        for _ in range(3):
            self.root = tempfile.mkdtemp(prefix="bench-peers-%s-" % self.name)
            self.port = free_port()
            if self.name == "forkftp":
                if os.geteuid() == 0:
                    # Started as root, the workers serve clients as nobody (--run-as).
                    nobody = pwd.getpwnam("nobody")
                    os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
                # No per-address limit, as pyftpdlib's default (max_cons_per_ip
                # 0): the script's 100 clients all come from 127.0.0.1.
                cmd = [self.ftpserver, "--listen", "127.0.0.1:%d" % self.port, "--root", self.root,
                       "--user", "%s:%s" % (USER, PASSWORD), "--max-per-ip", "0", "-q"]
            else:
                cmd = [sys.executable, "-m", "pyftpdlib", "-i", "127.0.0.1", "-p", str(self.port), "-w",
                       "-u", USER, "-P", PASSWORD, "-d", self.root]
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            try:
                wait_greeting(self.port, self.proc)
                # Let the pool settle (the greeting probe took a worker).
                time.sleep(0.3)
                return
            except RuntimeError as e:
                log("%s: %s; trying another port" % (self.name, e))
                self.stop()
        sys.exit("bench-peers: %s did not start" % self.name)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None


class MemoryRace(Exception):
    """The script's memory column met a worker that had just exited."""


def run_ftpbench(script, server, args, memory):
    """One run of pyftpdlib's script; returns {row: (value, unit, memory)}.
    With `memory`, the script sums the memory of the server's processes
    (-k, with psutil); it then fails when a worker exits while it counts
    (forkftp retires spare workers): MemoryRace."""
    cmd = [sys.executable, "-W", "ignore", script, "-u", USER, "-p", PASSWORD, "-H", "127.0.0.1",
           "-P", str(server.port)] + args
    try:
        import psutil  # noqa: F401  (the script's -k needs it)
        if memory:
            cmd += ["-k", str(server.proc.pid)]
    except ImportError:
        pass
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    if out.returncode != 0 and "NoSuchProcess" in out.stderr:
        raise MemoryRace()
    if out.returncode != 0:
        sys.exit("bench-peers: ftpbench against %s failed:\n%s%s" % (server.name, out.stdout, out.stderr))
    rows = {}
    for line in out.stdout.splitlines():
        m = ROW.match(line)
        if m:
            rows[m["what"]] = (float(m["value"]), m["unit"], m["mem"] or "")
    return rows


def stor_rows(server, size, count):
    """1 GiB STORs with ftplib: `count` to one name, each over the last, and
    `count` to fresh names (the previous one deleted first, untimed). MB/s
    (10^6 bytes) from the STOR command to its 226; medians."""
    chunk = b"x" * 65536

    def stor(ftp, name):
        start = time.time()
        with ftp.transfercmd("STOR " + name) as conn:
            sent = 0
            while sent < size:
                conn.sendall(chunk)
                sent += len(chunk)
        ftp.voidresp()
        return size / (time.time() - start) / 1e6

    ftp = ftplib.FTP(timeout=120)
    ftp.connect("127.0.0.1", server.port)
    ftp.login(USER, PASSWORD)
    ftp.voidcmd("TYPE I")
    stor(ftp, "same.bin")  # untimed: the file that the first overwrite replaces
    over = [stor(ftp, "same.bin") for _ in range(count)]
    ftp.delete("same.bin")
    fresh = []
    for i in range(count):
        fresh.append(stor(ftp, "fresh%d.bin" % i))
        ftp.delete("fresh%d.bin" % i)
    ftp.quit()
    return {
        "STOR %s to one name, over the last (ftplib)" % human(size): (statistics.median(over), "MB/sec", ""),
        "STOR %s to fresh names (ftplib)" % human(size): (statistics.median(fresh), "MB/sec", ""),
    }


def human(n):
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return "%d %s" % (n >> shift, unit)
    return "%d B" % n


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ftpserver", default=os.path.join(TOP, "target", "release", "ftpserver"))
    p.add_argument("--rounds", type=int, default=3, help="runs of each server (default 3)")
    p.add_argument("--settle", type=float, default=10, help="seconds of pause before each run (default 10)")
    p.add_argument("--quick", action="store_true", help="tiny sizes, one round: checks that it works")
    a = p.parse_args()
    if a.quick:
        a.rounds = 1
        a.settle = 0
        bench_args = ["-b", "all", "-n", "10", "-s", "1M"]
        stor_size, stor_count = 16 << 20, 1
    else:
        bench_args = ["-b", "all", "-n", "100", "-s", "10M"]
        stor_size, stor_count = 1 << 30, 3
    script = fetch_ftpbench()
    import pyftpdlib

    servers = [Server("forkftp", a.ftpserver), Server("pyftpdlib", None)]
    results = {s.name: [] for s in servers}
    started = time.time()
    log("load average %s at the start; pyftpdlib %s serving, its ftpbench %s" % (
        load(), pyftpdlib.__ver__, " ".join(bench_args)))
    for r in range(a.rounds):
        # forkftp first in even rounds, pyftpdlib first in odd ones.
        for s in servers if r % 2 == 0 else servers[::-1]:
            # Twice with the memory column, then without it.
            for memory in (True, True, False):
                time.sleep(a.settle)
                s.start()
                try:
                    rows = run_ftpbench(script, s, bench_args, memory)
                    rows.update(stor_rows(s, stor_size, stor_count))
                    break
                except MemoryRace:
                    log("round %d, %s: a worker exited while the script counted memory; again" % (r + 1, s.name))
                finally:
                    s.stop()
            results[s.name].append(rows)
            log("round %d, %s: %s" % (r + 1, s.name, "; ".join(
                "%s %.2f" % (k, v[0]) for k, v in rows.items())))
    print("pyftpdlib's ftpbench %s (and two ftplib rows), medians of %d runs each, interleaved; "
          "load average %s at the end, %.0f s" % (" ".join(bench_args), a.rounds, load(), time.time() - started))
    print()
    names = list(results["forkftp"][0].keys())
    head = ["row", "forkftp", "pyftpdlib", "", "memory forkftp", "memory pyftpdlib"]
    table = []
    for what in names:
        cols = []
        for s in servers:
            vals = [run[what][0] for run in results[s.name] if what in run]
            mems = [run[what][2] for run in results[s.name] if what in run]
            cols.append((statistics.median(vals), mems[len(mems) // 2] if mems else ""))
        unit = results["forkftp"][0][what][1]
        ours, theirs = cols[0][0], cols[1][0]
        ahead = ours >= theirs if unit == "MB/sec" else ours <= theirs
        table.append([what, "%.2f %s" % (ours, unit), "%.2f %s" % (theirs, unit),
                      "ahead" if ahead else "BEHIND", cols[0][1], cols[1][1]])
    widths = [max(len(row[i]) for row in table + [head]) for i in range(len(head))]
    for row in [head] + table:
        print("| " + " | ".join(c.ljust(w) if i in (0, 3) else c.rjust(w)
                                for i, (c, w) in enumerate(zip(row, widths))) + " |")
        if row is head:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


if __name__ == "__main__":
    main()
