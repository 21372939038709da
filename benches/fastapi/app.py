"""The FastAPI baseline for `benches/http.rs`: the webshop recommender as a
typical Python service would serve it.

A scikit-learn decision tree (depth 8) behind FastAPI, with pydantic models
checking the Open Inference Protocol request and every feature (types,
ranges, categorical levels) as modelhost does, answering the same
`POST /v2/models/recommender/infer`. The training data imitates the
webshop example's distribution (the tree's depth, not its exact splits,
sets the prediction cost).

Use uvicorn[standard] (uvloop, httptools): with plain uvicorn on asyncio
and h11, every keep-alive request here stalled ~44 ms (a response split
across segments waiting on a delayed ACK), which would measure the stall,
not FastAPI.

    pip install fastapi "uvicorn[standard]" scikit-learn
    cd benches/fastapi && uvicorn app:app --workers 2 --port 8000 --log-level warning
    HTTP_BENCH_EXTERNAL=127.0.0.1:8000 cargo bench --features http --bench http
"""

from typing import List, Literal, Union

import numpy as np
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field, ValidationError
from sklearn.tree import DecisionTreeClassifier

DEVICES = ["mobile", "desktop", "tablet"]
LABELS = ["ignore", "buy"]


def train():
    rng = np.random.default_rng(2)
    n = 8000
    recency = (rng.random(n) ** 2 * 60).astype(int)
    frequency = rng.integers(0, 26, n)
    basket = np.round(rng.random(n) ** 3 * 400, 2)
    price = np.round(rng.uniform(5, 150, n), 2)
    device = rng.integers(0, 2, n)
    returning = (frequency > 0) & (rng.random(n) < 0.8)
    score = (1.5 - recency / 25 + frequency / 8 + basket / 150 - price / 60
             + 0.4 * (device == 1) + 0.3 * returning + rng.uniform(-0.8, 0.8, n))
    x = np.column_stack([recency, frequency, basket, price, device, returning])
    return DecisionTreeClassifier(max_depth=8).fit(x, (score > 0).astype(int))


MODEL = train()


class Row(BaseModel):
    recency_days: int = Field(ge=0, le=3650, strict=True)
    frequency: int = Field(ge=0, strict=True)
    basket_value: float = Field(ge=0, le=100_000, allow_inf_nan=False)
    product_price: float = Field(ge=0, allow_inf_nan=False)
    device: Literal["mobile", "desktop", "tablet"]
    is_returning: bool = False


class InputTensor(BaseModel):
    name: str
    shape: List[int]
    datatype: Literal["INT64", "INT32", "FP64", "FP32", "BYTES", "BOOL"]
    data: List[Union[bool, int, float, str]]


class InferRequest(BaseModel):
    id: str = ""
    inputs: List[InputTensor]


app = FastAPI()


@app.post("/v2/models/recommender/infer")
def infer(request: InferRequest):
    columns = {t.name: t.data for t in request.inputs}
    n = len(request.inputs[0].data) if request.inputs else 0
    try:
        rows = [Row(**{k: v[i] for k, v in columns.items()}) for i in range(n)]
    except (ValidationError, IndexError) as e:
        raise HTTPException(status_code=400, detail=str(e))
    x = np.array([[r.recency_days, r.frequency, r.basket_value, r.product_price,
                   DEVICES.index(r.device), float(r.is_returning)] for r in rows])
    labels = [LABELS[c] for c in MODEL.predict(x)]
    return {
        "model_name": "recommender",
        "model_version": "1",
        "id": request.id,
        "outputs": [{"name": "label", "datatype": "BYTES", "shape": [n], "data": labels}],
    }
