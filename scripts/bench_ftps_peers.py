#!/usr/bin/env python3
"""`make bench-ftps-peers`: FTPS against the peers, with one Python ftplib client.

Measures encrypted RETR and STOR of one big file, sequential TLS logins
(connect, AUTH TLS, USER, PASS, QUIT: a full handshake each), and, for
forkftp, the PSS of 100 idle TLS sessions against 100 plain ones. The servers:

- forkftp: `ftpserver` (release build) with a certificate from `ftpserver gencert`;
- pyftpdlib 2.2 with its TLS_FTPHandler (pyOpenSSL), `tests/client/pyftpd.py`;
- vsftpd and pure-ftpd from Debian's packages, unpacked (`apt-get download`,
  `dpkg -x`, never installed) into target/bench-ftps-peers/ at the first run.

Each runs on a free loopback port with its own configuration written here, the
same ECDSA P-256 certificate and the same root (vsftpd serves it to anonymous,
the others to a user). The client is the same for all: `ftplib.FTP_TLS` whose
data connections resume the control connection's TLS session (vsftpd and
forkftp require it), PROT P, reads and writes of `--block` bytes. Runs are
interleaved (every server once per round, the order turning each round) with a
pause before each bulk transfer (see bench_peers.py on this VM's memory); each
figure is the median of `--runs`, and the load average is printed with each
round. Needs root (vsftpd chroots). Only loopback addresses are used.
"""
import argparse
import ftplib
import glob
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
PEERS = os.path.join(TOP, "target", "bench-ftps-peers")
USER, PASSWORD = "bench", "bench-password"
READY_TIMEOUT = 20
SERVERS = ["forkftp", "pyftpdlib", "vsftpd", "pure-ftpd"]


def log(msg):
    print("bench-ftps-peers: " + msg, file=sys.stderr, flush=True)


def load():
    return "%.2f" % os.getloadavg()[0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unpack_peers():
    """vsftpd and pure-ftpd from Debian's packages, unpacked, not installed."""
    root = os.path.join(PEERS, "root")
    if os.path.exists(os.path.join(root, "usr/sbin/vsftpd")) and os.path.exists(os.path.join(root, "usr/sbin/pure-ftpd")):
        return root
    os.makedirs(PEERS, exist_ok=True)
    log("fetching vsftpd and pure-ftpd with apt-get download")
    subprocess.run(["apt-get", "download", "vsftpd", "pure-ftpd", "pure-ftpd-common", "libwrap0"], cwd=PEERS,
                   check=True, stdout=subprocess.DEVNULL)
    for deb in glob.glob(os.path.join(PEERS, "*.deb")):
        subprocess.run(["dpkg", "-x", deb, root], check=True)
    return root


def libs(root):
    return ":".join(sorted({os.path.dirname(p) for p in glob.glob(os.path.join(root, "**/libwrap.so.0"), recursive=True)}))


class Server:
    def __init__(self, name, argv, port, user, password, env=None, stdin=None):
        self.name, self.port, self.user, self.password = name, port, user, password
        self.out = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdout=self.out, stderr=subprocess.STDOUT, env=env,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + READY_TIMEOUT
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    if s.recv(100).startswith(b"220"):
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                self.out.seek(0)
                sys.exit("bench-ftps-peers: %s did not start: %s" % (name, self.out.read().decode(errors="replace")))
            time.sleep(0.1)

    def pids(self):
        """The server's processes: its own and its descendants'."""
        kids = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open("/proc/%s/stat" % d) as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                    kids.setdefault(ppid, []).append(int(d))
                except (OSError, ValueError, IndexError):
                    pass
        out, todo = [], [self.proc.pid]
        while todo:
            p = todo.pop()
            out.append(p)
            todo.extend(kids.get(p, []))
        return out

    def pss_mib(self):
        total = 0
        for p in self.pids():
            try:
                with open("/proc/%d/smaps_rollup" % p) as f:
                    for line in f:
                        if line.startswith("Pss:"):
                            total += int(line.split()[1])
            except OSError:
                pass
        return total / 1024

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)


class ReusingFTP(ftplib.FTP_TLS):
    """FTP_TLS whose data connections resume the control connection's session."""

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size


def context(cert):
    ctx = ssl.create_default_context(cafile=cert)
    ctx.check_hostname = False
    return ctx


def session(srv, cert, plain=False):
    if plain:
        f = ftplib.FTP()
        f.connect("127.0.0.1", srv.port, timeout=60)
        f.login(srv.user, srv.password)
        return f
    f = ReusingFTP(context=context(cert))
    f.connect("127.0.0.1", srv.port, timeout=60)
    f.login(srv.user, srv.password)
    f.prot_p()
    return f


def retr(srv, cert, size, block):
    f = session(srv, cert)
    got = [0]

    def sink(b):
        got[0] += len(b)

    t = time.perf_counter()
    f.retrbinary("RETR big.bin", sink, blocksize=block)
    dt = time.perf_counter() - t
    f.quit()
    if got[0] != size:
        sys.exit("bench-ftps-peers: %s RETR: %d bytes, expected %d" % (srv.name, got[0], size))
    return size / dt / 1e6


def stor(srv, cert, size, block, src, root, n):
    name = "up/%s-%d.bin" % (srv.name, n)
    f = session(srv, cert)
    with open(src, "rb") as fp:
        t = time.perf_counter()
        f.storbinary("STOR " + name, fp, blocksize=block)
        dt = time.perf_counter() - t
    f.quit()
    path = os.path.join(root, name)
    if os.path.getsize(path) != size:
        sys.exit("bench-ftps-peers: %s STOR: %d bytes stored, expected %d" % (srv.name, os.path.getsize(path), size))
    os.remove(path)
    return size / dt / 1e6


def logins(srv, cert, seconds):
    """Sequential logins for `seconds` (at least one: pure-ftpd's puredb
    account spends seconds hashing each password)."""
    ctx = context(cert)
    n, t0 = 0, time.perf_counter()
    while n == 0 or time.perf_counter() - t0 < seconds:
        f = ftplib.FTP_TLS(context=ctx)
        f.connect("127.0.0.1", srv.port, timeout=30)
        f.login(srv.user, srv.password)
        f.quit()
        f.close()
        n += 1
    return n / (time.perf_counter() - t0)


def cipher(srv, cert):
    f = session(srv, cert)
    c = f.sock.cipher()
    f.quit()
    return "%s %s" % (c[1], c[0])


def anon_user():
    """vsftpd's anonymous user: `ftp`, else one whose home exists (vsftpd enters it first)."""
    import pwd
    for name in ("ftp", "daemon"):
        try:
            if os.path.isdir(pwd.getpwnam(name).pw_dir):
                return name
        except KeyError:
            pass
    sys.exit("bench-ftps-peers: no user ftp or daemon with an existing home for vsftpd's anonymous sessions")


def start(name, tmp, root, cert, key, peers, exe):
    port = free_port()
    if name == "forkftp":
        argv = [exe, "--listen", "127.0.0.1:%d" % port, "--root", root, "--no-anonymous",
                "--user", "%s:%s" % (USER, PASSWORD), "--tls-cert", cert, "--tls-key", key, "-q",
                # The idle sessions all come from 127.0.0.1.
                "--max-per-ip", "0"]
        return Server(name, argv, port, USER, PASSWORD)
    if name == "pyftpdlib":
        argv = [sys.executable, os.path.join(TOP, "tests", "client", "pyftpd.py"), "--root", root,
                "--user", "%s:%s" % (USER, PASSWORD), "--tls", "%s:%s" % (cert, key), "--port", str(port)]
        return Server(name, argv, port, USER, PASSWORD)
    if name == "vsftpd":
        empty = os.path.join(tmp, "vsftpd-empty")
        os.makedirs(empty, exist_ok=True)
        conf = os.path.join(tmp, "vsftpd.conf")
        lo = free_port()
        with open(conf, "w") as f:
            f.write("\n".join([
                "listen=YES", "listen_address=127.0.0.1", "listen_port=%d" % port, "background=NO",
                "anonymous_enable=YES", "local_enable=NO", "anon_root=" + root, "ftp_username=" + anon_user(),
                "no_anon_password=YES", "write_enable=YES", "anon_upload_enable=YES",
                "anon_other_write_enable=YES", "anon_umask=022", "secure_chroot_dir=" + empty,
                "seccomp_sandbox=NO", "pasv_min_port=%d" % lo, "pasv_max_port=%d" % (lo + 50),
                "ssl_enable=YES", "allow_anon_ssl=YES", "rsa_cert_file=" + cert, "rsa_private_key_file=" + key,
                "require_ssl_reuse=YES", "ssl_ciphers=HIGH", "xferlog_enable=NO", "max_clients=0", "max_per_ip=0",
                "",
            ]))
        env = dict(os.environ, LD_LIBRARY_PATH=libs(peers))
        return Server(name, [os.path.join(peers, "usr/sbin/vsftpd"), conf], port, "anonymous", "x@", env=env)
    if name == "pure-ftpd":
        pw = os.path.join(tmp, "pureftpd.passwd")
        pdb = os.path.join(tmp, "pureftpd.pdb")
        if not os.path.exists(pdb):
            subprocess.run([os.path.join(peers, "usr/bin/pure-pw"), "useradd", USER, "-u", "65534", "-g", "65534",
                            "-d", root, "-f", pw, "-m", "-F", pdb], input=("%s\n%s\n" % (PASSWORD, PASSWORD)).encode(),
                           check=True, stdout=subprocess.DEVNULL)
        both = os.path.join(tmp, "pure-ftpd.pem")
        with open(both, "w") as out:
            out.write(open(key).read() + open(cert).read())
        lo = free_port()
        argv = [os.path.join(peers, "usr/sbin/pure-ftpd"), "-S", "127.0.0.1,%d" % port, "-l", "puredb:" + pdb,
                "-E", "-A", "-H", "-Y", "1", "-2", both, "-p", "%d:%d" % (lo, lo + 50), "-c", "200", "-C", "200"]
        return Server(name, argv, port, USER, PASSWORD)
    raise SystemExit("unknown server " + name)


def median(v):
    return statistics.median(v) if v else float("nan")


def main():
    a = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    a.add_argument("--servers", default=",".join(SERVERS))
    a.add_argument("--runs", type=int, default=5)
    a.add_argument("--size", type=int, default=1 << 30, help="bytes of the file of RETR and STOR")
    a.add_argument("--block", type=int, default=1 << 20, help="ftplib's blocksize")
    a.add_argument("--login-seconds", type=float, default=5)
    a.add_argument("--settle", type=float, default=5, help="pause before each bulk transfer, seconds")
    a.add_argument("--idle", type=int, default=100, help="idle sessions for forkftp's PSS")
    a.add_argument("--only", default="retr,stor,login,idle")
    a.add_argument("--server-exe", default=os.path.join(TOP, "target", "release", "ftpserver"))
    args = a.parse_args()
    names = args.servers.split(",")
    only = set(args.only.split(","))
    if os.geteuid() != 0:
        sys.exit("bench-ftps-peers: run as root (vsftpd chroots into the root it serves)")
    peers = unpack_peers() if {"vsftpd", "pure-ftpd"} & set(names) else None
    tmp = tempfile.mkdtemp(prefix="bench-ftps-")
    os.chmod(tmp, 0o755)
    root = os.path.join(tmp, "root")
    os.makedirs(os.path.join(root, "up"))
    os.chmod(root, 0o755)
    os.chmod(os.path.join(root, "up"), 0o777)
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run([args.server_exe, "gencert", "--name", "localhost", "--name", "127.0.0.1", "--cert", cert,
                    "--key", key], check=True, stdout=subprocess.DEVNULL)
    os.chmod(key, 0o644)
    src = os.path.join(tmp, "src.bin")
    with open(src, "wb") as f:
        chunk = os.urandom(1 << 20)
        for _ in range(args.size >> 20):
            f.write(chunk)
    os.link(src, os.path.join(root, "big.bin"))
    servers = []
    try:
        for n in names:
            servers.append(start(n, tmp, root, cert, key, peers, args.server_exe))
        for s in servers:
            log("%s: %s" % (s.name, cipher(s, cert)))
            # Untimed: the client's (and the server's) first big transfer
            # pays for its allocator's growth.
            if "retr" in only:
                retr(s, cert, args.size, args.block)
            if "stor" in only:
                stor(s, cert, args.size, args.block, src, root, -1)
        res = {s.name: {"retr": [], "stor": [], "login": []} for s in servers}
        for r in range(args.runs):
            order = servers[r % len(servers):] + servers[:r % len(servers)]
            for s in order:
                line = []
                if "retr" in only:
                    time.sleep(args.settle)
                    l0 = load()
                    res[s.name]["retr"].append(retr(s, cert, args.size, args.block))
                    line.append("RETR %.0f MB/s (load %s)" % (res[s.name]["retr"][-1], l0))
                if "stor" in only:
                    time.sleep(args.settle)
                    l0 = load()
                    res[s.name]["stor"].append(stor(s, cert, args.size, args.block, src, root, r))
                    line.append("STOR %.0f MB/s (load %s)" % (res[s.name]["stor"][-1], l0))
                if "login" in only:
                    l0 = load()
                    res[s.name]["login"].append(logins(s, cert, args.login_seconds))
                    line.append("logins %.0f/s (load %s)" % (res[s.name]["login"][-1], l0))
                log("round %d %s: %s" % (r + 1, s.name, ", ".join(line)))
        print("%-10s %14s %14s %14s" % ("server", "RETR MB/s", "STOR MB/s", "TLS logins/s"))
        for s in servers:
            v = res[s.name]
            print("%-10s %14.0f %14.0f %14.1f" % (s.name, median(v["retr"]), median(v["stor"]), median(v["login"])))
        fork = next((s for s in servers if s.name == "forkftp"), None)
        if fork and "idle" in only:
            base = fork.pss_mib()
            for plain in (True, False):
                conns = [session(fork, cert, plain=plain) for _ in range(args.idle)]
                time.sleep(1)
                pss = fork.pss_mib()
                for c in conns:
                    c.quit()
                if plain:
                    plain_pss = pss
                else:
                    print("forkftp PSS with %d idle sessions: plain %.1f MiB, TLS (PROT P) %.1f MiB: %.2fx "
                          "(%.1f MiB before)" % (args.idle, plain_pss, pss, pss / plain_pss, base))
                time.sleep(1)
        print("load average at the end: %s" % " ".join("%.2f" % x for x in os.getloadavg()))
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
