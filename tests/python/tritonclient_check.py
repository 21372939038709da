"""Drive a running `modelhost serve` with the stock Python clients.

Usage: tritonclient_check.py URL EXPECTED_JSON TOKEN

EXPECTED_JSON is the output of `cargo run --example webshop_predict`: rows
and the labels the Rust API predicts for them. The script checks the Open
Inference Protocol endpoints with `tritonclient.http` (default options, so
binary tensor data both ways, and JSON data), the repository extension
with a bearer token, and the MLflow scoring protocol with `requests`. It
prints one line per check and, last, `N passed, 0 failed`; it exits 1 on
the first failure.
"""

import json
import sys

import numpy as np
import requests
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

URL, EXPECTED, TOKEN = sys.argv[1], sys.argv[2], sys.argv[3]
BASE = "http://" + URL
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


# Feature name -> (Triton datatype, numpy dtype).
TYPES = {
    "recency_days": ("INT64", np.int64),
    "frequency": ("INT64", np.int64),
    "basket_value": ("FP64", np.float64),
    "product_price": ("FP64", np.float64),
    "device": ("BYTES", np.object_),
    "is_returning": ("BOOL", np.bool_),
}


def inputs(batch, binary):
    out = []
    for name, (datatype, dtype) in TYPES.items():
        values = np.array([r[name] for r in batch], dtype=dtype)
        t = httpclient.InferInput(name, [len(batch)], datatype)
        t.set_data_from_numpy(values, binary_data=binary)
        out.append(t)
    return out


def as_labels(array):
    return [x.decode() if isinstance(x, bytes) else str(x) for x in array.reshape(-1)]


client = httpclient.InferenceServerClient(url=URL)
check("server live", client.is_server_live())
check("server ready", client.is_server_ready())
check("model ready", client.is_model_ready(MODEL))
check("model version ready", client.is_model_ready(MODEL, model_version=version))
meta = client.get_server_metadata()
check("server metadata", meta["name"] == "modelhost" and "binary_tensor_data" in meta["extensions"], meta)
model_meta = client.get_model_metadata(MODEL)
check(
    "model metadata",
    [i["name"] for i in model_meta["inputs"]] == list(TYPES)
    and [i["datatype"] for i in model_meta["inputs"]] == [t for t, _ in TYPES.values()]
    and model_meta["outputs"][0]["name"] == "label",
    model_meta,
)

# Every output the metadata lists answers (clients build their requested
# outputs from it); probabilities name their class order.
listed = [o["name"] for o in model_meta["outputs"]]
result = client.infer(
    MODEL,
    inputs(rows, binary=True),
    outputs=[httpclient.InferRequestedOutput(name, binary_data=True) for name in listed],
)
for o in model_meta["outputs"]:
    array = result.as_numpy(o["name"])
    check(f"listed output {o['name']} answers", array is not None and array.shape[0] == len(rows), o)
    if o["name"] == "probabilities":
        classes = o.get("parameters", {}).get("labels")
        check("probabilities name their labels", classes is not None and array.shape[1] == len(classes), o)
        check("probabilities sum to 1", all(abs(sum(r) - 1.0) < 1e-9 for r in array.tolist()))

# Default options: binary inputs, and (no outputs named) binary outputs.
result = client.infer(MODEL, inputs(rows, binary=True), request_id="py-1")
check("infer binary: labels", as_labels(result.as_numpy("label")) == labels)
response = result.get_response()
check("infer binary: id and version", response["id"] == "py-1" and response["model_version"] == version, response)
check("infer binary: output was binary", "parameters" in response["outputs"][0], response)

# JSON data both ways.
outputs = [httpclient.InferRequestedOutput("label", binary_data=False)]
result = client.infer(MODEL, inputs(rows, binary=False), outputs=outputs)
check("infer JSON: labels", as_labels(result.as_numpy("label")) == labels)
check("infer JSON: output was JSON", "data" in result.get_response()["outputs"][0])

# An explicit held version, and one that is not held.
result = client.infer(MODEL, inputs(rows[:3], binary=True), model_version=version)
check("infer version: labels", as_labels(result.as_numpy("label")) == labels[:3])
try:
    client.infer(MODEL, inputs(rows[:1], binary=True), model_version="999")
    check("infer missing version fails", False)
except InferenceServerException as e:
    check("infer missing version fails", "999" in str(e), e)

# Invalid input: every bad feature is named.
bad = [dict(r) for r in rows[:1]]
bad[0]["recency_days"] = -5
bad[0]["device"] = "fridge"
try:
    client.infer(MODEL, inputs(bad, binary=True))
    check("invalid input rejected", False)
except InferenceServerException as e:
    check("invalid input names every feature", "recency_days" in str(e) and "device" in str(e), e)

# Repository extension with the admin token.
auth = {"Authorization": "Bearer " + TOKEN}
# The index is read-only and open, as in Triton; load and unload need the token.
index = client.get_model_repository_index()
check("repository index", index[0]["name"] == MODEL and index[0]["state"] == "READY", index)
try:
    client.unload_model(MODEL, headers={"Authorization": "Bearer wrong"})
    check("wrong token refused", False)
except InferenceServerException as e:
    check("wrong token refused", "not valid" in str(e), e)
config = client.get_model_config(MODEL)
check("model config", config["name"] == MODEL and config["platform"] == "modelhost", config)
stats = client.get_inference_statistics(MODEL)
check(
    "inference statistics",
    stats["model_stats"][0]["inference_stats"]["success"]["count"] > 0,
    stats,
)
client.unload_model(MODEL, headers=auth)
check("unloaded model is not ready", not client.is_model_ready(MODEL))
client.load_model(MODEL, headers=auth)
check("loaded model is ready", client.is_model_ready(MODEL))
client.close()

# MLflow scoring protocol.
columns = list(TYPES)
split = {"dataframe_split": {"columns": columns + ["session"], "data": [[r[c] for c in columns] + ["s"] for r in rows]}}
for name, body in [
    ("dataframe_split (extra column ignored)", split),
    ("dataframe_records", {"dataframe_records": rows}),
    ("instances", {"instances": rows}),
    ("inputs", {"inputs": {c: [r[c] for r in rows] for c in columns}}),
]:
    r = requests.post(BASE + "/invocations", json=body, timeout=10)
    check(f"mlflow {name}", r.status_code == 200 and r.json()["predictions"] == labels, r.text[:300])
csv = ",".join(columns) + "\n" + "\n".join(",".join(str(r[c]) for c in columns) for r in rows) + "\n"
r = requests.post(BASE + "/invocations", data=csv, headers={"Content-Type": "text/csv"}, timeout=10)
check("mlflow csv", r.status_code == 200 and r.json()["predictions"] == labels, r.text[:300])
# What a pyfunc user of a predict_proba model expects: one list of class
# probabilities per row, in the label order the OIP metadata names.
r = requests.post(
    BASE + "/invocations",
    json={"dataframe_records": rows, "params": {"predict_method": "predict_proba"}},
    timeout=10,
)
proba = r.json().get("predictions") if r.status_code == 200 else None
check(
    "mlflow predict_proba",
    proba is not None
    and len(proba) == len(rows)
    and all(len(p) == 2 and abs(sum(p) - 1.0) < 1e-9 for p in proba)
    and [("buy" if p[1] >= p[0] else "ignore") for p in proba] == labels,
    r.text[:300],
)
r = requests.post(BASE + "/invocations", data="x", headers={"Content-Type": "text/plain"}, timeout=10)
check("mlflow 415", r.status_code == 415 and r.json()["error_code"] == "BAD_REQUEST", r.text)
r = requests.post(BASE + "/invocations", json={"dataframe_records": [{"device": "fridge"}]}, timeout=10)
check("mlflow 400", r.status_code == 400 and "device" in r.json()["message"], r.text)
check("mlflow ping", requests.get(BASE + "/ping", timeout=10).status_code == 200)
metrics = requests.get(BASE + "/metrics", timeout=10).text
check("metrics", 'modelhost_http_requests_total{route="/invocations",status="200"}' in metrics, metrics[:300])

print(f"{passed} passed, 0 failed")
