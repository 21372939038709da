"""Drive a running `modelhost serve --grpc-addr` with the stock gRPC clients.

Usage: grpc_check.py GRPC_ADDR HTTP_ADDR EXPECTED_JSON TOKEN

EXPECTED_JSON is the output of `cargo run --example webshop_predict`: rows
and the labels the Rust API predicts for them. The script checks the Open
Inference Protocol over gRPC with `tritonclient.grpc` (raw tensors, as it
sends by default; 1 and 100 rows; metadata, config, statistics, the
repository methods with a bearer token, and each error code)
(KServe's clients are checked by kserve_check.py, in a process of their
own: kserve and tritonclient.grpc register the same protobuf symbols and
cannot be imported together). It prints one line per check and, last,
`N passed, 0 failed`; it exits 1 on the first failure.
"""

import json
import sys

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

GRPC, HTTP, EXPECTED, TOKEN = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
MODEL = "recommender"

with open(EXPECTED) as f:
    expected = json.load(f)
rows, labels, version = expected["rows"], expected["labels"], str(expected["version"])
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


def arrays(batch):
    return {name: np.array([r[name] for r in batch], dtype=dtype) for name, (_, dtype) in TYPES.items()}


def triton_inputs(batch):
    out = []
    for name, values in arrays(batch).items():
        t = grpcclient.InferInput(name, [len(batch)], TYPES[name][0])
        t.set_data_from_numpy(values)
        out.append(t)
    return out


def as_labels(array):
    return [x.decode() if isinstance(x, bytes) else str(x) for x in array.reshape(-1)]


def code_of(call):
    try:
        call()
    except InferenceServerException as e:
        return str(e.status())
    return "OK"


# --- tritonclient.grpc ---------------------------------------------------
client = grpcclient.InferenceServerClient(url=GRPC)
check("grpc server live", client.is_server_live())
check("grpc server ready", client.is_server_ready())
check("grpc model ready", client.is_model_ready(MODEL))
check("grpc model version ready", client.is_model_ready(MODEL, model_version=version))
meta = client.get_server_metadata(as_json=True)
check("grpc server metadata", meta["name"] == "modelhost", meta)
model_meta = client.get_model_metadata(MODEL, as_json=True)
check(
    "grpc model metadata",
    [i["name"] for i in model_meta["inputs"]] == list(TYPES)
    and [i["datatype"] for i in model_meta["inputs"]] == [t for t, _ in TYPES.values()],
    model_meta,
)

# Every listed output answers, for 1 row and for 100 rows.
listed = [o["name"] for o in model_meta["outputs"]]
batch = (rows * 3)[:100]
want = (labels * 3)[:100]
for n in (1, 100):
    result = client.infer(
        MODEL,
        triton_inputs(batch[:n]),
        outputs=[grpcclient.InferRequestedOutput(name) for name in listed],
        request_id=f"g-{n}",
    )
    check(f"grpc infer {n} rows: labels", as_labels(result.as_numpy("label")) == want[:n])
    response = result.get_response(as_json=True)
    check(f"grpc infer {n} rows: id and version", response["id"] == f"g-{n}" and response["model_version"] == version, response)
    if "probabilities" in listed:
        p = result.as_numpy("probabilities")
        check(f"grpc infer {n} rows: probabilities", p.shape[0] == n and np.allclose(p.sum(axis=1), 1.0), p.shape)

result = client.infer(MODEL, triton_inputs(rows[:3]), outputs=[grpcclient.InferRequestedOutput("label", class_count=2)])
cells = result.as_numpy("label")
check("grpc classification", cells.shape == (3, 2) and all(len(c.decode().split(":")) == 3 for c in cells.reshape(-1)), cells)

result = client.infer(MODEL, triton_inputs(rows[:3]), model_version=version)
check("grpc infer version", as_labels(result.as_numpy("label")) == labels[:3])

check("grpc missing version: NOT_FOUND", code_of(lambda: client.infer(MODEL, triton_inputs(rows[:1]), model_version="999")) == "StatusCode.NOT_FOUND")
check("grpc unknown model: NOT_FOUND", code_of(lambda: client.infer("nope", triton_inputs(rows[:1]))) == "StatusCode.NOT_FOUND")
bad = [dict(r) for r in rows[:1]]
bad[0]["recency_days"] = -5
bad[0]["device"] = "fridge"
try:
    client.infer(MODEL, triton_inputs(bad))
    check("grpc invalid input: INVALID_ARGUMENT", False)
except InferenceServerException as e:
    check(
        "grpc invalid input: INVALID_ARGUMENT naming every feature",
        str(e.status()) == "StatusCode.INVALID_ARGUMENT" and "recency_days" in e.message() and "device" in e.message(),
        e,
    )
too_many = (rows * (10001 // len(rows) + 1))[:10001]
over = code_of(lambda: client.infer(MODEL, triton_inputs(too_many)))
check("grpc rows over the limit: RESOURCE_EXHAUSTED", over == "StatusCode.RESOURCE_EXHAUSTED", over)
# A message over the body limit (2 MiB by default: 300,000 rows of raw
# tensors) is refused before it is decoded, as Triton refuses it.
huge = (rows * (300000 // len(rows) + 1))[:300000]
over = code_of(lambda: client.infer(MODEL, triton_inputs(huge)))
check("grpc message over the body limit: RESOURCE_EXHAUSTED", over == "StatusCode.RESOURCE_EXHAUSTED", over)

config = client.get_model_config(MODEL, as_json=True)["config"]
check("grpc model config", config["name"] == MODEL and config["backend"] == "modelhost" and len(config["input"]) == len(TYPES), config)
stats = client.get_inference_statistics(MODEL, as_json=True)
check("grpc inference statistics", int(stats["model_stats"][0]["inference_stats"]["success"]["count"]) > 0, stats)
index = client.get_model_repository_index(as_json=True)
check("grpc repository index", index["models"][0]["name"] == MODEL and index["models"][0]["state"] == "READY", index)
check("grpc unload without token: UNAUTHENTICATED", code_of(lambda: client.unload_model(MODEL)) == "StatusCode.UNAUTHENTICATED")
check("grpc unload with a wrong token: PERMISSION_DENIED", code_of(lambda: client.unload_model(MODEL, headers={"authorization": "Bearer wrong"})) == "StatusCode.PERMISSION_DENIED")
auth = {"authorization": "Bearer " + TOKEN}
client.unload_model(MODEL, headers=auth)
check("grpc unloaded model is not ready", not client.is_model_ready(MODEL))
check("grpc infer on an unloaded model: UNAVAILABLE", code_of(lambda: client.infer(MODEL, triton_inputs(rows[:1]))) == "StatusCode.UNAVAILABLE")
client.load_model(MODEL, headers=auth)
check("grpc loaded model is ready", client.is_model_ready(MODEL))
client.close()


print(f"{passed} passed, 0 failed")
