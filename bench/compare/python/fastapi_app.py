"""The usual Python recipe: FastAPI + uvicorn + a pickled scikit-learn tree,
with pydantic checking the input.

    COMPARE_MODEL=model.pkl uvicorn fastapi_app:app --workers N

POST /predict with one customer as a JSON object; answers
{"label": "buy" | "ignore", "class": 1 | 0}.
"""

import os
import pickle
import warnings

import numpy as np
from fastapi import FastAPI

from customer import Customer

# The tree was fitted on a DataFrame; rows come as numpy arrays in the same
# column order, which scikit-learn would warn about on every call.
warnings.filterwarnings("ignore", message="X does not have valid feature names")

LABELS = ("ignore", "buy")

with open(os.environ["COMPARE_MODEL"], "rb") as f:
    model = pickle.load(f)

app = FastAPI()


@app.get("/health")
def health():
    return {"status": "ok"}


@app.post("/predict")
def predict(customer: Customer):
    cls = int(model.predict(np.array([customer.encoded()], dtype=np.float64))[0])
    return {"label": LABELS[cls], "class": cls}
