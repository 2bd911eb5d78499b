"""anchor_common.py - what the Redis anchors share: the connection to the
benchmark's server (a Unix socket's absolute path, or HOST:PORT) and the
JSON line each measurement prints, the same as the C programs':
    {"name": "...", "ops": N, "seconds": S, "rate": R}
with "us_per_op" added for a round trip."""
import json
import sys

import redis


def connect(server):
    """A redis-py client of the server: a socket path or HOST:PORT."""
    if server.startswith("/"):
        return redis.Redis(unix_socket_path=server)
    host, port = server.rsplit(":", 1)
    return redis.Redis(host=host, port=int(port))


def url(server, scheme_unix="unix"):
    """The server as a URL: unix:///path (redis-py, RQ) or, with
    scheme_unix="redis+socket", kombu's and Celery's form."""
    if server.startswith("/"):
        return f"{scheme_unix}://{server}"
    return f"redis://{server}/0"


def report(name, ops, seconds, per_op=False):
    line = {"name": name, "ops": ops, "seconds": round(seconds, 6),
            "rate": round(ops / seconds, 1)}
    if per_op:
        line["us_per_op"] = round(seconds / ops * 1e6, 3)
    print(json.dumps(line), flush=True)


def die(msg):
    sys.exit(f"{sys.argv[0]}: {msg}")
