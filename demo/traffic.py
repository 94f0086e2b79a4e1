"""Steady keep-alive traffic through the proxy, one summary line per second.

    python3 demo/traffic.py ADDRESS PORT HOST SECONDS
Stops after SECONDS (or Ctrl-C) and prints the totals; exits 1 if any request failed.
"""

from __future__ import annotations

import collections
import http.client
import signal
import sys
import threading
import time


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    address, port, host, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    lock = threading.Lock()
    ok = failed = 0
    versions: collections.Counter[str] = collections.Counter()
    errors: list[str] = []
    stop = threading.Event()

    def client() -> None:
        nonlocal ok, failed
        conn = http.client.HTTPConnection(address, port, timeout=10)
        while not stop.is_set():
            try:
                conn.request("GET", "/", headers={"Host": host})
                resp = conn.getresponse()
                resp.read()
                good = resp.status == 200
                with lock:
                    if good:
                        ok += 1
                        versions[resp.getheader("X-App-Version") or "?"] += 1
                    else:
                        failed += 1
                        errors.append(f"HTTP {resp.status}")
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                with lock:
                    failed += 1
                    errors.append(type(exc).__name__)
            time.sleep(0.01)
        conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    start = time.monotonic()
    last = 0
    try:
        while time.monotonic() - start < seconds:
            time.sleep(1)
            with lock:
                total = ok + failed
                seen = ", ".join(f"{v}: {n}" for v, n in sorted(versions.items()))
                versions.clear()
            print(f"traffic: {total - last:5d} req/s, {failed} failed so far, served by {seen}", flush=True)
            last = total
    except KeyboardInterrupt:
        pass
    stop.set()
    for t in threads:
        t.join(timeout=15)
    print(f"traffic: {ok + failed} requests, {failed} failed" + (f" ({', '.join(errors[:5])})" if errors else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
