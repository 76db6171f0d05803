#!/usr/bin/env python3
"""A pyftpdlib server for ftpclient's tests: an FTP server nobody here wrote.

Listens on --port (0: any free one) of HOST and prints `PORT n` (the port it got) once it listens. Anonymous
users (and --user NAME:PASSWORD) may read and write under --root.
--no-epsv removes EPSV and EPRT (the client must fall back to PASV and PORT);
--no-rest removes REST (downloads start over, uploads resume with APPE);
--long-banner makes the greeting a multi-line 220 reply;
--tls CERT:KEY serves FTPS with pyftpdlib's TLS_FTPHandler (pyopenssl).
"""
import argparse
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

PERMS = "elradfmwMT"

args = argparse.ArgumentParser()
args.add_argument("--host", default="127.0.0.1")
args.add_argument("--port", type=int, default=0, help="port to listen on (0: any free one)")
args.add_argument("--root", required=True)
args.add_argument("--user", help="NAME:PASSWORD")
args.add_argument("--no-epsv", action="store_true")
args.add_argument("--no-rest", action="store_true")
args.add_argument("--long-banner", action="store_true")
args.add_argument("--tls", metavar="CERT:KEY", help="FTPS (explicit AUTH TLS) with this PEM pair (needs pyopenssl)")
a = args.parse_args()

authorizer = DummyAuthorizer()
if a.user:
    name, password = a.user.split(":", 1)
    authorizer.add_user(name, password, a.root, perm=PERMS)
authorizer.add_anonymous(a.root, perm=PERMS)


if a.tls:
    from pyftpdlib.handlers import TLS_FTPHandler

    Base = TLS_FTPHandler
    Base.certfile, Base.keyfile = a.tls.split(":", 1)
else:
    Base = FTPHandler


class Handler(Base):
    pass


Handler.authorizer = authorizer
# A failed login is answered at once (pyftpdlib waits 3 s by default).
Handler.auth_failed_timeout = 0.1
removed = set()
if a.no_epsv:
    removed |= {"EPSV", "EPRT"}
if a.no_rest:
    removed |= {"REST"}
Handler.proto_cmds = {k: v for k, v in Base.proto_cmds.items() if k not in removed}
if a.long_banner:
    # pyftpdlib sends a banner longer than 75 characters as a multi-line 220.
    Handler.banner = "pyftpdlib test server for ftpclient, with a greeting long enough to span two lines"

server = FTPServer((a.host, a.port), Handler)
print("PORT", server.address[1], flush=True)
server.serve_forever()
