#!/usr/bin/env python3
"""Attacks Tyr's three HTTP listeners as a hostile client would, on loopback, and prints figures.

    python3 scripts/hostile_clients.py [--target build/tests/tyr_listener_target]
                                       [--connections 1000] [--good 300]

Starts the listener target (the real appservice, veto and admin listeners over a real RocksDB
store), then for each listener:
  1. opens --connections hostile connections, half of them sending a request one byte a second,
     half connected and silent, and keeps them open;
  2. meanwhile sends --good well-formed, authorised requests, each on a fresh connection, and
     measures each one's latency (connect to last byte of the answer);
then against the appservice listener, sends a 100 MB body without a token (chunked, one stream
and four at once; and with Content-Length) and measures the time to the refusal and the target's
resident memory (VmRSS) before and after.

Exits 1 when a good request goes unanswered, p99 reaches 50 ms, a refusal takes a second or
more, or RSS grows by 10 MB or more. Loopback only; every loop is bounded in count and time.
"""

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MB = 1 << 20


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


async def read_response(reader, timeout):
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await asyncio.wait_for(reader.readexactly(length), timeout) if length else b""
    return int(head.split(b" ", 2)[1]), body


async def good_request(port, raw, timeout=5.0):
    start = time.perf_counter()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        writer.write(raw)
        await writer.drain()
        status, _ = await read_response(reader, timeout)
        writer.close()
        return status, (time.perf_counter() - start) * 1000.0
    except (asyncio.TimeoutError, OSError, asyncio.IncompleteReadError):
        return 0, (time.perf_counter() - start) * 1000.0


class Hostile:
    """Connections that trickle one byte a second or sit silent, until stopped."""

    def __init__(self, port, count, partial):
        self.port, self.count, self.partial = port, count, partial
        self.writers, self.tasks, self.closed_by_server = [], [], 0
        self.stop = asyncio.Event()

    async def open(self):
        for i in range(self.count):
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                continue
            self.writers.append(writer)
            if i % 2 == 0:
                self.tasks.append(asyncio.create_task(self.trickle(reader, writer)))

    async def trickle(self, reader, writer):
        sent = 0
        while not self.stop.is_set():
            byte = self.partial[sent % len(self.partial): sent % len(self.partial) + 1]
            try:
                writer.write(byte)
                await writer.drain()
            except OSError:
                self.closed_by_server += 1
                return
            sent += 1
            try:
                await asyncio.wait_for(self.stop.wait(), 1.0)
            except asyncio.TimeoutError:
                pass

    async def close(self):
        self.stop.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for w in self.writers:
            w.close()


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def big_stream(port, headers, seconds=5.0):
    """Sends up to 100 MB after `headers` on a blocking socket while another thread reads the
    answer (a write that meets the closed connection must not discard an answer already there).
    Returns (status, ms to the answer, MB sent)."""
    start = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port), timeout=seconds)
    answer = {}

    def reader():
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                c = s.recv(65536)
                if not c:
                    break
                data += c
        except OSError:
            pass
        answer["ms"] = (time.perf_counter() - start) * 1000.0
        answer["status"] = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else 0

    t = threading.Thread(target=reader)
    t.start()
    chunked = b"chunked" in headers
    chunk = (b"100000\r\n" + b"x" * MB + b"\r\n") if chunked else b"x" * MB
    sent = 0
    try:
        s.sendall(headers)
        while sent < 100 * MB and t.is_alive() and time.perf_counter() - start < seconds:
            s.sendall(chunk)
            sent += MB
    except OSError:
        pass
    t.join(seconds)
    s.close()
    return answer.get("status", 0), answer.get("ms", seconds * 1000.0), sent // MB


async def big_body(port, headers, streams):
    loop = asyncio.get_running_loop()
    return await asyncio.gather(*(loop.run_in_executor(None, big_stream, port, headers)
                                  for _ in range(streams)))


async def main_async(args):
    proc = subprocess.Popen([args.target], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        pid = info["pid"]
        hs, secret = info["hs_token"], info["veto_secret"]
        txn = json.dumps({"events": [{"event_id": "$e", "type": "m.room.message",
                                      "room_id": "!r:example.org", "sender": "@u:example.org",
                                      "content": {"body": "hi"}}]}).encode()
        join = json.dumps({"user": "@u:example.org", "room": "!r:example.org",
                           "is_invited": False}).encode()
        counter = iter(range(1, 10**9))

        def txn_request():
            return (f"PUT /_matrix/app/v1/transactions/{next(counter)} HTTP/1.1\r\nHost: t\r\n"
                    f"Authorization: Bearer {hs}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(txn)}\r\nConnection: close\r\n\r\n").encode() + txn

        listeners = [
            ("appservice", info["appservice"], None,
             b"PUT /_matrix/app/v1/transactions/x HTTP/1.1\r\nHost: t\r\nContent-Length: 99\r\n"),
            ("veto", info["veto"],
             (f"POST /_tyr/veto/user_may_join_room HTTP/1.1\r\nHost: t\r\n"
              f"Authorization: Bearer {secret}\r\nContent-Type: application/json\r\n"
              f"Content-Length: {len(join)}\r\nConnection: close\r\n\r\n").encode() + join,
             b"POST /_tyr/veto/check_event_for_spam HTTP/1.1\r\nHost: t\r\nContent-Length: 99\r\n"),
            ("admin", info["admin"],
             b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
             b"GET /metrics HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"s" * 200),
        ]
        ok = True
        print(f"target pid {pid}, RSS {rss_kib(pid) // 1024} MiB at start")
        print(f"{'listener':<11}{'hostile':>8}{'fds':>6}{'good':>6}{'answered':>9}"
              f"{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
        for name, port, good, partial in listeners:
            # Each good appservice request is a new transaction, stored in RocksDB.
            raws = [txn_request() if good is None else good for _ in range(args.good)]
            row = await attack_listener(name, port, raws, partial, args, pid)
            print(f"{row['listener']:<11}{row['hostile']:>8}{row['target_fds']:>6}{row['good']:>6}"
                  f"{row['answered']:>9}{row['p50_ms']!s:>9}{row['p99_ms']!s:>9}{row['max_ms']!s:>9}")
            if row["answered"] != row["good"] or (row["p99_ms"] or 1e9) >= 50.0:
                ok = False
        await asyncio.sleep(1.0)
        print()
        print(f"{'100 MB without a token':<36}{'status':>7}{'answer ms':>11}{'MB sent':>9}"
              f"{'RSS growth MiB':>16}")
        cases = [
            ("chunked, 1 stream", b"PUT /_matrix/app/v1/transactions/big HTTP/1.1\r\nHost: t\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n", 1),
            ("chunked, 4 streams", b"PUT /_matrix/app/v1/transactions/big HTTP/1.1\r\nHost: t\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n", 4),
            ("Content-Length: 104857600", b"PUT /_matrix/app/v1/transactions/big HTTP/1.1\r\n"
             b"Host: t\r\nContent-Length: 104857600\r\n\r\n", 1),
            ("no length at all (until close)", b"PUT /_matrix/app/v1/transactions/big HTTP/1.1\r\n"
             b"Host: t\r\n\r\n", 1),
        ]
        for label, headers, streams in cases:
            before = rss_kib(pid)
            results = await big_body(info["appservice"], headers, streams)
            await asyncio.sleep(0.2)
            growth = (rss_kib(pid) - before) / 1024.0
            worst = max(ms for _, ms, _ in results)
            statuses = ",".join(sorted({str(s) for s, _, _ in results}))
            sent = max(mb for _, _, mb in results)
            print(f"{label:<36}{statuses:>7}{worst:>11.1f}{sent:>9}{growth:>16.1f}")
            if any(s == 0 or s == 200 for s, _, _ in results) or worst >= 1000 or growth >= 10:
                ok = False
        print(f"\ntarget RSS {rss_kib(pid) // 1024} MiB at end")
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def attack_listener(name, port, raws, partial, args, pid):
    """Good requests `raws`, a few at a time, while hostile connections trickle and idle."""
    hostile = Hostile(port, args.connections, partial)
    t0 = time.perf_counter()
    await hostile.open()
    opened = time.perf_counter() - t0
    await asyncio.sleep(1.0)
    fds = open_fds(pid)
    sem = asyncio.Semaphore(4)

    async def one(raw):
        async with sem:
            return await good_request(port, raw)

    results = await asyncio.gather(*(one(r) for r in raws))
    await hostile.close()
    latencies = [ms for s, ms in results if s == 200]
    return {
        "listener": name, "hostile": len(hostile.writers), "open_s": round(opened, 2),
        "target_fds": fds, "good": len(raws), "answered": len(latencies),
        "p50_ms": round(statistics.median(latencies), 2) if latencies else None,
        "p99_ms": round(percentile(latencies, 99), 2) if latencies else None,
        "max_ms": round(max(latencies), 2) if latencies else None,
        "failures": len(raws) - len(latencies),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", default=os.path.join(ROOT, "build/tests/tyr_listener_target"))
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--good", type=int, default=300)
    args = ap.parse_args()
    if not os.path.exists(args.target):
        sys.exit(f"{args.target} not found: build it with cmake --build build --target "
                 "tyr_listener_target")
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
