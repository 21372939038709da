"""Drive a running `modelhost serve --grpc-addr` with KServe's clients.

Usage: kserve_check.py GRPC_ADDR HTTP_ADDR EXPECTED_JSON

KServe's `InferenceGRPCClient` (Open Inference Protocol over gRPC) and its
`InferenceRESTClient` speaking KServe's V1 REST protocol. Run apart from
grpc_check.py: kserve and tritonclient.grpc register the same protobuf
symbols. It prints one line per check and, last, `N passed, 0 failed`; it
exits 1 on the first failure.
"""

import asyncio
import json
import sys

import numpy as np
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig

GRPC, HTTP, EXPECTED = sys.argv[1], sys.argv[2], sys.argv[3]
MODEL = "recommender"

with open(EXPECTED) as f:
    expected = json.load(f)
rows, labels = expected["rows"], expected["labels"]
passed = 0


def check(name, condition, detail=""):
    global passed
    if not condition:
        print(f"FAIL {name} {detail}")
        print(f"{passed} passed, 1 failed")
        sys.exit(1)
    passed += 1
    print(f"ok   {name}")


TYPES = {
    "recency_days": ("INT64", np.int64),
    "frequency": ("INT64", np.int64),
    "basket_value": ("FP64", np.float64),
    "product_price": ("FP64", np.float64),
    "device": ("BYTES", np.object_),
    "is_returning": ("BOOL", np.bool_),
}


def as_labels(array):
    return [x.decode() if isinstance(x, bytes) else str(x) for x in np.asarray(array).reshape(-1)]


async def main():
    grpc = InferenceGRPCClient(url=GRPC, use_ssl=False)
    check("kserve grpc server live", await grpc.is_server_live())
    check("kserve grpc server ready", await grpc.is_server_ready())
    check("kserve grpc model ready", await grpc.is_model_ready(MODEL))
    inputs = []
    for name, (datatype, dtype) in TYPES.items():
        t = InferInput(name, [len(rows)], datatype)
        t.set_data_from_numpy(np.array([r[name] for r in rows], dtype=dtype), binary_data=True)
        inputs.append(t)
    response = await grpc.infer(InferRequest(model_name=MODEL, infer_inputs=inputs, request_id="k-1"))
    out = {o.name: o for o in response.outputs}
    check("kserve grpc infer: labels", as_labels(out["label"].as_numpy()) == labels, response)
    check("kserve grpc infer: id", response.id == "k-1", response.id)
    await grpc.close()

    rest = InferenceRESTClient(config=RESTConfig(protocol="v1"))
    base = "http://" + HTTP
    reply = await rest.infer(base, {"instances": rows}, model_name=MODEL)
    body = reply if isinstance(reply, dict) else json.loads(reply)
    check("kserve v1 predict", body["predictions"] == labels, body)
    check("kserve v1 model ready", await rest.is_model_ready(base, MODEL))
    await rest.close()


asyncio.run(main())
print(f"{passed} passed, 0 failed")
