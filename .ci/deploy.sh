#!/usr/bin/env bash
# The deployment files without a cluster: the Deployment, Service, HPA,
# PodDisruptionBudget and Secrets against the Kubernetes 1.30 and 1.37
# schemas (kubernetes-validate, strict: unknown fields fail), then
# scripts/check_manifests.py for what the schemas cannot see (probes, ports,
# flags against the CLI source, security context, shutdown timing, KServe
# runtime and InferenceService, Dockerfile). Then the same check on broken
# copies in a temporary directory, each of which must fail for its reason.
# Needs PyPI once for the venv; offline after that.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET="${CARGO_TARGET_DIR:-target}"
VENV="$TARGET/py-deploy"
PINS=(kubernetes-validate==1.37.0 PyYAML==6.0.4 jsonschema==4.26.0)
KUBERNETES=(1.30.0 1.37.0)
check='import importlib.metadata as m, kubernetes_validate, yaml
assert [m.version(p) for p in ("kubernetes-validate", "PyYAML", "jsonschema")] == ["1.37.0", "6.0.4", "4.26.0"]'
if ! "$VENV/bin/python" -c "$check" 2>/dev/null; then
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    timeout 600 "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PINS[@]}"
fi

# check ROOT: the files under ROOT (deploy/, DEPLOYMENT.md) against this
# repository's CLI source and Cargo.toml.
check() {
    local root="$1" k8s="$1/deploy/kubernetes" versions=()
    for v in "${KUBERNETES[@]}"; do versions+=(-k "$v"); done
    "$VENV/bin/kubernetes-validate" --strict --quiet "${versions[@]}" \
        "$k8s/deployment.yaml" "$k8s/service.yaml" "$k8s/hpa.yaml" \
        "$k8s/poddisruptionbudget.yaml" "$k8s/secret.example.yaml" || return 1
    "$VENV/bin/python" scripts/check_manifests.py --root "$root" --source . "${versions[@]}" || return 1
}

echo "-- schemas (Kubernetes ${KUBERNETES[*]}) and deployment checks"
check .

# expect_failure WHAT FILE OLD NEW MESSAGE: a copy of the files with OLD
# replaced by NEW in FILE must fail the check, saying MESSAGE.
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT
caught=0
expect_failure() {
    local what="$1" file="$2" old="$3" new="$4" message="$5" dir out
    dir="$(mktemp -d "$SCRATCH/case.XXXX")"
    cp -r deploy DEPLOYMENT.md "$dir/"
    "$VENV/bin/python" - "$dir/$file" "$old" "$new" <<'EOF'
import sys
path, old, new = sys.argv[1:]
text = open(path).read()
if old not in text:
    sys.exit(f"self-test: {old!r} is not in {path}: update .ci/deploy.sh")
open(path, "w").write(text.replace(old, new, 1))
EOF
    if out="$(check "$dir" 2>&1)"; then
        echo "self-test: $what was not caught"; exit 1
    fi
    if ! grep -qF -- "$message" <<<"$out"; then
        echo "self-test: $what failed, but not with \"$message\":"; echo "$out"; exit 1
    fi
    caught=$((caught + 1))
}

echo "-- self-test: broken copies must fail"
K=deploy/kubernetes
expect_failure "a wrong readiness path" $K/deployment.yaml \
    "path: /v2/health/ready" "path: /healthz" "readinessProbe path is '/healthz'"
expect_failure "liveness on the gRPC port" $K/deployment.yaml \
    "path: /v2/health/live
              port: http
            periodSeconds: 10" "path: /v2/health/live
              port: grpc
            periodSeconds: 10" "livenessProbe port 'grpc' is not the HTTP port"
expect_failure "an unknown flag" $K/deployment.yaml \
    "--watch-interval-ms=5000" "--poll-ms=5000" "has no flag --poll-ms"
expect_failure "a loopback --addr" $K/deployment.yaml \
    "--addr=0.0.0.0:8080" "--addr=127.0.0.1:8080" "not every interface"
expect_failure "a writable root filesystem" $K/deployment.yaml \
    "readOnlyRootFilesystem: true" "readOnlyRootFilesystem: false" "readOnlyRootFilesystem is not true"
expect_failure "a grace period shorter than the drain" $K/deployment.yaml \
    "terminationGracePeriodSeconds: 30" "terminationGracePeriodSeconds: 15" "does not exceed preStop"
expect_failure "a cache larger than its emptyDir" $K/deployment.yaml \
    'value: "1536"' 'value: "4096"' "not below its emptyDir's sizeLimit"
expect_failure "a misspelt field (schema)" $K/deployment.yaml \
    "  replicas: 3" "  replica: 3" "'replica' was unexpected"
expect_failure "a Service port without a containerPort" $K/service.yaml \
    "targetPort: grpc" "targetPort: 9000" "no containerPort of the Deployment"
expect_failure "an HPA aimed elsewhere" $K/hpa.yaml \
    "    name: modelhost" "    name: modelhost-api" "scaleTargetRef"
expect_failure "the example Secret in the kustomization" $K/kustomization.yaml \
    "  - hpa.yaml" "  - hpa.yaml
  - secret.example.yaml" "would replace real credentials"
expect_failure "a root USER in the image" deploy/Dockerfile \
    "USER 65532:65532" "USER root" "USER root is not numeric"
expect_failure "an unknown Cargo feature" deploy/Dockerfile \
    'ARG FEATURES="cli,http,grpc,s3,azure,gcs"' 'ARG FEATURES="cli,http,grpc,s3,azure,gcs,minio"' "'minio'"
expect_failure "a runtime without kserve-container" deploy/kserve/cluster-serving-runtime.yaml \
    "name: kserve-container" "name: modelhost" "no container named kserve-container"
expect_failure "an invented runtime field" deploy/kserve/cluster-serving-runtime.yaml \
    "  multiModel: false" "  multiModels: false" "spec.multiModels is not a field"
expect_failure "an InferenceService on protocol v1" deploy/kserve/inference-service.yaml \
    "protocolVersion: v2" "protocolVersion: v1" "protocolVersion is 'v1'"
expect_failure "an InferenceService without the model annotation" deploy/kserve/inference-service.yaml \
    "modelhostModel: recommender@production" "modelhost-model: recommender@production" "{{.Annotations.modelhostModel}}"
expect_failure "a made-up registry subcommand in DEPLOYMENT.md" DEPLOYMENT.md \
    "modelhost registry alias recommender production 2" \
    "modelhost registry alias set recommender production 2" "takes at most 3 argument(s)"
echo "self-test: $caught broken copies caught"
echo "deploy: passed"
