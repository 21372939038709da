"""Drives one consumer of the stream benchmark and prints one JSON line.

    python drive.py NATS_URL DATA_DIR NAME -- CONSUMER COMMAND...

Two phases, each on fresh streams (BENCH_EVENTS on `bench.events`,
BENCH_PREDICTIONS on `bench.predictions` and `bench.dead`):

1. Throughput: EVENTS events are published first, then the consumer is
   started; the rate is the number of outputs over the time from the first
   output to the last, by the broker's own timestamps (so start-up and
   model training do not count).
2. Latency: the consumer is started on empty streams, then events are
   published at RATE a second for SECONDS; each event's latency is the time
   from its publish (just before the send) to the moment this process
   receives its prediction on `bench.predictions` (a core subscription),
   one clock for both. p50 and p99 over all events.

Every output is checked against the model's expected shape and every event
must get exactly one output (duplicates are counted, not tolerated).
"""

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nats
import pandas as pd
from nats.js.api import AckPolicy, ConsumerConfig

FEATURES = ["recency_days", "frequency", "basket_value", "product_price", "device", "is_returning"]
DEVICES = ["mobile", "desktop", "tablet"]
EVENTS = int(os.environ.get("STREAM_BENCH_EVENTS", "20000"))
RATE = int(os.environ.get("STREAM_BENCH_RATE", "1000"))
SECONDS = int(os.environ.get("STREAM_BENCH_SECONDS", "10"))


def events(data):
    frame = pd.read_csv(data / "holdout.csv")
    rows = []
    for _, r in frame.iterrows():
        rows.append(
            json.dumps(
                {
                    "recency_days": int(r["recency_days"]),
                    "frequency": int(r["frequency"]),
                    "basket_value": float(r["basket_value"]),
                    "product_price": float(r["product_price"]),
                    "device": DEVICES[int(r["device"])],
                    "is_returning": bool(r["is_returning"]),
                }
            ).encode()
        )
    return rows


async def fresh(js):
    for name in ["BENCH_EVENTS", "BENCH_PREDICTIONS"]:
        try:
            await js.delete_stream(name)
        except Exception:
            pass
    await js.add_stream(name="BENCH_EVENTS", subjects=["bench.events"])
    await js.add_stream(name="BENCH_PREDICTIONS", subjects=["bench.predictions", "bench.dead"])


def start(command):
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    # Both consumers print one line once they consume.
    proc.stdout.readline()
    return proc


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def stored(js, name):
    info = await js.stream_info(name)
    return info.state.messages


async def wait_for(js, n, limit):
    deadline = time.monotonic() + limit
    while await stored(js, "BENCH_PREDICTIONS") < n:
        if time.monotonic() > deadline:
            raise SystemExit(f"fewer than {n} outputs after {limit} s")
        await asyncio.sleep(0.05)


async def publish_all(js, payloads, n):
    sent = 0
    while sent < n:
        chunk = [payloads[(sent + i) % len(payloads)] for i in range(min(500, n - sent))]
        await asyncio.gather(*(js.publish("bench.events", p) for p in chunk))
        sent += len(chunk)


async def throughput(nc, js, payloads, command):
    await fresh(js)
    await publish_all(js, payloads, EVENTS)
    proc = start(command)
    try:
        await wait_for(js, EVENTS, 600)
    finally:
        stop(proc)
    # No acknowledgements: the reader must not stall at max ack pending.
    sub = await js.pull_subscribe(
        "bench.predictions",
        stream="BENCH_PREDICTIONS",
        config=ConsumerConfig(ack_policy=AckPolicy.NONE),
    )
    first = last = None
    seen = set()
    got = 0
    while got < EVENTS:
        for m in await sub.fetch(batch=1000, timeout=10):
            ts = m.metadata.timestamp
            first = ts if first is None or ts < first else first
            last = ts if last is None or ts > last else last
            out = json.loads(m.data)
            assert out["predictions"][0]["label"] in ("buy", "ignore"), out
            seen.add(out["input"]["sequence"])
            got += 1
    assert len(seen) == EVENTS, f"{EVENTS - len(seen)} events without output or repeated"
    span = (last - first).total_seconds()
    return (EVENTS - 1) / span


async def latency(nc, js, payloads, command):
    await fresh(js)
    proc = start(command)
    received = {}

    async def on_output(msg):
        received[json.loads(msg.data)["input"]["sequence"]] = time.perf_counter()

    sub = await nc.subscribe("bench.predictions", cb=on_output)
    sent = {}
    n = RATE * SECONDS
    try:
        begin = time.perf_counter()
        for i in range(n):
            due = begin + i / RATE
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            t = time.perf_counter()
            ack = await js.publish("bench.events", payloads[i % len(payloads)])
            sent[ack.seq] = t
        deadline = time.monotonic() + 120
        while len(received) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        stop(proc)
        await sub.unsubscribe()
    assert len(received) == n, f"{n - len(received)} events without output"
    lat = sorted(received[s] - sent[s] for s in sent)
    return lat[len(lat) // 2], lat[int(len(lat) * 0.99)]


async def main():
    url, data, name = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    command = sys.argv[sys.argv.index("--") + 1 :]
    payloads = events(data)
    nc = await nats.connect(url)
    js = nc.jetstream()
    rate = await throughput(nc, js, payloads, command)
    p50, p99 = await latency(nc, js, payloads, command)
    await nc.close()
    print(
        json.dumps(
            {"target": name, "events_per_s": round(rate), "p50_ms": round(p50 * 1e3, 2), "p99_ms": round(p99 * 1e3, 2)}
        ),
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main())
