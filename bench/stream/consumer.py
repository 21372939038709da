"""The Python side of the stream benchmark: the same work as `modelhost
stream`, written as a careful Python team would with nats-py and
scikit-learn.

    python consumer.py NATS_URL DATA_DIR [--batch]

A JetStream durable pull consumer on `bench.events` (stream BENCH_EVENTS);
each fetched event is decoded (a JSON feature map), encoded for the model,
scored by a DecisionTreeClassifier(max_depth=8) trained on DATA_DIR/train.csv
(the twin of modelhost's `recommender@tree`), published to
`bench.predictions` with `Nats-Msg-Id` = STREAM:SEQUENCE and its publish
acknowledgement awaited, and only then acknowledged (double ack). Without
--batch every event is scored on its own (`predict_proba` on one row); with
--batch each fetched batch is scored in one call. Events of a fetch are
processed concurrently, as modelhost processes up to 256 at once. The output
has modelhost's `StreamOutput` shape.
"""

import asyncio
import json
import signal
import sys
import time
from pathlib import Path

import nats
import numpy as np
import pandas as pd
from nats.errors import TimeoutError as NatsTimeout
from sklearn.tree import DecisionTreeClassifier

FEATURES = ["recency_days", "frequency", "basket_value", "product_price", "device", "is_returning"]
DEVICES = {"mobile": 0, "desktop": 1, "tablet": 2}
LABELS = ["ignore", "buy"]


def train(data):
    frame = pd.read_csv(data / "train.csv")
    model = DecisionTreeClassifier(max_depth=8, random_state=0)
    model.fit(frame[FEATURES].to_numpy(dtype=float), frame["label"].to_numpy())
    return model


def encode(event):
    return [
        float(event["recency_days"]),
        float(event["frequency"]),
        float(event["basket_value"]),
        float(event["product_price"]),
        float(DEVICES[event["device"]]),
        1.0 if event["is_returning"] else 0.0,
    ]


def output(msg, probabilities, received):
    meta = msg.metadata
    p = [float(v) for v in probabilities]
    index = int(np.argmax(p))
    return {
        "id": f"{meta.stream}:{meta.sequence.stream}",
        "model": "recommender",
        "version": 1,
        "labels": LABELS,
        "predictions": [{"index": index, "label": LABELS[index], "probabilities": p}],
        "input": {
            "stream": meta.stream,
            "sequence": meta.sequence.stream,
            "deliveries": meta.num_delivered,
        },
        "latency_us": int((time.perf_counter() - received) * 1e6),
    }


async def main():
    url, data = sys.argv[1], Path(sys.argv[2])
    batch = "--batch" in sys.argv[3:]
    model = train(data)
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(name="BENCH_PREDICTIONS", subjects=["bench.predictions", "bench.dead"])
    sub = await js.pull_subscribe("bench.events", durable="python", stream="BENCH_EVENTS")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)

    async def publish_then_ack(msg, out):
        await js.publish(
            "bench.predictions",
            json.dumps(out).encode(),
            headers={"Nats-Msg-Id": out["id"]},
        )
        await msg.ack_sync()

    async def one(msg):
        received = time.perf_counter()
        try:
            x = np.array([encode(json.loads(msg.data))])
        except (ValueError, KeyError, TypeError) as e:
            await js.publish("bench.dead", msg.data, headers={"Error": str(e)[:200]})
            await msg.ack_sync()
            return
        await publish_then_ack(msg, output(msg, model.predict_proba(x)[0], received))

    while not stop.is_set():
        try:
            msgs = await sub.fetch(batch=128, timeout=0.5)
        except NatsTimeout:
            continue
        if batch:
            received = time.perf_counter()
            rows = [encode(json.loads(m.data)) for m in msgs]
            probabilities = model.predict_proba(np.array(rows))
            await asyncio.gather(
                *(publish_then_ack(m, output(m, p, received)) for m, p in zip(msgs, probabilities))
            )
        else:
            await asyncio.gather(*(one(m) for m in msgs))
    await nc.drain()


if __name__ == "__main__":
    asyncio.run(main())
