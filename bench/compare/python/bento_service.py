"""BentoML with adaptive batching: the same pickled scikit-learn tree behind a
batchable API. Concurrent requests are merged into one `predict` call by
BentoML's dispatcher (up to 64 rows). max_latency_ms is the latency budget the
dispatcher plans batches for; BentoML answers 503 to requests it expects to
miss it, so a tight budget (10 ms was tried) turns load into errors on a
busy core.

    COMPARE_MODEL=model.pkl bentoml serve bento_service:Recommender --port P

POST /predict with {"rows": [customer, ...]}; answers [class, ...].
"""

import os
import pickle
import warnings

import bentoml
import numpy as np

from customer import Customer

# The tree was fitted on a DataFrame; rows come as numpy arrays in the same
# column order, which scikit-learn would warn about on every call.
warnings.filterwarnings("ignore", message="X does not have valid feature names")


@bentoml.service(workers=1)
class Recommender:
    def __init__(self) -> None:
        with open(os.environ["COMPARE_MODEL"], "rb") as f:
            self.model = pickle.load(f)

    @bentoml.api(batchable=True, max_batch_size=64, max_latency_ms=1000)
    def predict(self, rows: list[Customer]) -> list[int]:
        x = np.array([r.encoded() for r in rows], dtype=np.float64)
        return [int(c) for c in self.model.predict(x)]
