"""greenroom's demo and test app: a small HTTP/1.1 server (Python standard library only).

Environment:
  APP_VERSION     returned in every response (body and X-App-Version header)
  PORT            listen port (default 8000)
  START_DELAY     seconds before /health answers 200 (default 0)
  HEALTH_FAIL     "1": /health always answers 500 (a version that never gets healthy)
  UPSTREAM        host:port of a TCP echo server: the app keeps ONE long-lived connection
                  to it, opened at start, pinging every 200 ms; /upstream reports liveness
  STOP_GRACE      seconds to keep serving in-flight requests after SIGTERM (default 5)
  ERROR_RATE      share (0 to 1) of the requests to / answered 500 (a bad version; default 0)
  EXTRA_LATENCY_MS  milliseconds every request to / waits before its answer (a slow version)

  DB_PATH         a SQLite database (on a volume): `app.py migrate` migrates it to this
                  version's schema (the version's number: v2 -> 2) and records the run in
                  its `releases` table (MIGRATE_FAIL=1: fails, exit 3, changing nothing);
                  the server refuses to start on a schema older than its version's
  WORKER_LOG      `app.py worker`: a worker that appends "start TIME ID VERSION" and, on
                  SIGTERM, "stop TIME ID" to this file

Endpoints: /  /health  /upstream  /stream?seconds=N (one chunk every 100 ms)  /slow?ms=N
           /headers (the request's headers as the app got them, as JSON)
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

VERSION = os.environ.get("APP_VERSION", "dev")
STARTED = time.monotonic()
START_DELAY = float(os.environ.get("START_DELAY", "0"))
HEALTH_FAIL = os.environ.get("HEALTH_FAIL") == "1"
STOP_GRACE = float(os.environ.get("STOP_GRACE", "5"))
ERROR_RATE = float(os.environ.get("ERROR_RATE", "0"))
EXTRA_LATENCY = float(os.environ.get("EXTRA_LATENCY_MS", "0")) / 1000


class Upstream:
    """One long-lived outbound connection, opened before anything else happens."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.sock.settimeout(1.0)
        self.sent = self.echoed = 0
        self.last_echo = time.time()
        self.opened = time.time()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                self.sent += 1
                self.sock.sendall(b"%d\n" % self.sent)
                if self.sock.recv(64):
                    self.echoed += 1
                    self.last_echo = time.time()
                else:
                    return
            except TimeoutError:
                pass
            except OSError:
                return
            time.sleep(0.2)

    def report(self) -> dict[str, object]:
        age = time.time() - self.last_echo
        return {"alive": age < 2.0, "sent": self.sent, "echoed": self.echoed,
                "last_echo_age": round(age, 3), "opened": self.opened}


UPSTREAM = Upstream(os.environ["UPSTREAM"]) if os.environ.get("UPSTREAM") else None


ACTIVE = 0
ACTIVE_LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "greenroom-demo"
    # headers and body go out in two writes: without TCP_NODELAY a keep-alive peer (the
    # proxy's pooled connections) waits ~40 ms per response for a delayed ACK
    disable_nagle_algorithm = True


    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _send(self, status: int, body: dict[str, object]) -> None:
        data = (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-App-Version", VERSION)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        global ACTIVE
        with ACTIVE_LOCK:
            ACTIVE += 1
        try:
            self._get()
        finally:
            with ACTIVE_LOCK:
                ACTIVE -= 1

    def _get(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if url.path == "/health":
            ready = time.monotonic() - STARTED >= START_DELAY
            ok = ready and not HEALTH_FAIL
            self._send(200 if ok else 500, {"version": VERSION, "healthy": ok})
        elif url.path == "/upstream":
            self._send(200, {"version": VERSION, "upstream": UPSTREAM.report() if UPSTREAM else None})
        elif url.path == "/stream":
            seconds = float(query.get("seconds", ["5"])[0])
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("X-App-Version", VERSION)
            self.end_headers()
            end = time.monotonic() + seconds
            n = 0
            while time.monotonic() < end:
                chunk = f"{VERSION} {n}\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
                n += 1
                time.sleep(0.1)
            self.wfile.write(b"0\r\n\r\n")
        elif url.path == "/headers":
            self._send(200, {"version": VERSION, "headers": {k.lower(): v for k, v in self.headers.items()}})
        elif url.path == "/slow":
            time.sleep(float(query.get("ms", ["500"])[0]) / 1000)
            self._send(200, {"version": VERSION})
        else:
            if EXTRA_LATENCY:
                time.sleep(EXTRA_LATENCY)
            failed = ERROR_RATE > 0 and random.random() < ERROR_RATE
            self._send(500 if failed else 200, {"version": VERSION, "path": url.path})


def schema_of(version: str) -> int:
    digits = "".join(c for c in version.split("-")[0] if c.isdigit())
    return int(digits or "1")


def migrate() -> None:
    import sqlite3

    if os.environ.get("MIGRATE_FAIL") == "1":
        print(f"migration to schema {schema_of(VERSION)} failed: constraint violated", flush=True)
        sys.exit(3)
    db = sqlite3.connect(os.environ["DB_PATH"])
    with db:
        db.execute("CREATE TABLE IF NOT EXISTS meta (schema INTEGER NOT NULL)")
        db.execute("CREATE TABLE IF NOT EXISTS releases (version TEXT, at REAL)")
        if db.execute("SELECT COUNT(*) FROM meta").fetchone()[0] == 0:
            db.execute("INSERT INTO meta VALUES (0)")
        db.execute("UPDATE meta SET schema = MAX(schema, ?)", (schema_of(VERSION),))
        db.execute("INSERT INTO releases VALUES (?, ?)", (VERSION, time.time()))
    print(f"migrated to schema {schema_of(VERSION)} ({VERSION})", flush=True)


def check_schema() -> None:
    import sqlite3

    try:
        have = sqlite3.connect(os.environ["DB_PATH"]).execute("SELECT schema FROM meta").fetchone()[0]
    except sqlite3.Error as exc:
        have = f"none ({exc})"
    if not isinstance(have, int) or have < schema_of(VERSION):
        print(f"{VERSION} needs schema {schema_of(VERSION)}, the database has {have}", flush=True)
        sys.exit(1)


def worker() -> None:
    me = f"{socket.gethostname()}-{os.getpid()}"

    def note(line: str) -> None:
        with open(os.environ["WORKER_LOG"], "a") as f:
            f.write(line + "\n")

    def stop(_signum: int, _frame: object) -> None:
        note(f"stop {time.time():.6f} {me}")
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    note(f"start {time.time():.6f} {me} {VERSION}")
    print(f"worker {VERSION} started", flush=True)
    while True:
        time.sleep(1)


def main() -> None:
    if sys.argv[1:] == ["migrate"]:
        return migrate()
    if sys.argv[1:] == ["worker"]:
        return worker()
    if os.environ.get("DB_PATH"):
        check_schema()
    ThreadingHTTPServer.request_queue_size = 128  # the default 5 drops SYNs under load
    server = ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8000"))), Handler)
    server.daemon_threads = True

    def stop(_signum: int, _frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    print(f"demo app {VERSION} listening", flush=True)
    server.serve_forever(poll_interval=0.1)
    # SIGTERM: no new connections; requests in flight (streams included) may finish
    deadline = time.monotonic() + STOP_GRACE
    while time.monotonic() < deadline:
        with ACTIVE_LOCK:
            if ACTIVE == 0:
                break
        time.sleep(0.05)
    print(f"demo app {VERSION} stopped", flush=True)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
