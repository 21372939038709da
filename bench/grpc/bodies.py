"""Writes the two request bodies of bench/grpc/run.sh: the same single-row
webshop request as Open Inference Protocol JSON (rest.json) and as a framed
gRPC ModelInferRequest with typed contents (grpc.bin), encoded by hand from
grpc_predict_v2.proto so the script needs no protobuf package."""

import json
import struct
import sys

FEATURES = [
    ("recency_days", "INT64", 12),
    ("frequency", "INT64", 4),
    ("basket_value", "FP64", 83.5),
    ("product_price", "FP64", 24.99),
    ("device", "BYTES", "desktop"),
    ("is_returning", "BOOL", True),
]


def varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(number, wire, payload):
    return varint(number << 3 | wire) + payload


def length_delimited(number, data):
    return field(number, 2, varint(len(data)) + data)


def contents(datatype, value):
    # InferTensorContents: bool 1, int64 3, fp64 7, bytes 8 (packed scalars).
    if datatype == "INT64":
        return length_delimited(3, varint(value))
    if datatype == "FP64":
        return length_delimited(7, struct.pack("<d", value))
    if datatype == "BOOL":
        return length_delimited(1, varint(int(value)))
    return length_delimited(8, value.encode())


def tensor(name, datatype, value):
    # InferInputTensor: name 1, datatype 2, shape 3 (packed), contents 5.
    return (
        length_delimited(1, name.encode())
        + length_delimited(2, datatype.encode())
        + length_delimited(3, varint(1))
        + length_delimited(5, contents(datatype, value))
    )


def main(out_dir, model):
    request = length_delimited(1, model.encode()) + length_delimited(3, b"bench")
    for name, datatype, value in FEATURES:
        request += length_delimited(5, tensor(name, datatype, value))
    # gRPC framing: uncompressed flag, big-endian length, message.
    with open(f"{out_dir}/grpc.bin", "wb") as f:
        f.write(b"\x00" + struct.pack(">I", len(request)) + request)
    rest = {
        "id": "bench",
        "inputs": [
            {"name": n, "shape": [1], "datatype": d, "data": [v]} for n, d, v in FEATURES
        ],
    }
    with open(f"{out_dir}/rest.json", "w") as f:
        json.dump(rest, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
