#!/usr/bin/env bash
# Tier 2 on this machine: a kind cluster with the gateway and the three training services,
# each training job a Kubernetes Job. Needs docker, kind and kubectl. See docs/kubernetes.md.
#   k8s/kind-up.sh            # create the cluster, build + load images, apply the manifests
#   TORCH_VARIANT=cuda k8s/kind-up.sh   # GPU builds (kind itself has no GPUs)
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=${CLUSTER:-trainyard}
TAG=${TAG:-dev}
TORCH_VARIANT=${TORCH_VARIANT:-cpu}
FRAMEWORKS=(timm ultralytics huggingface)
declare -A PORTS=([timm]=8001 [ultralytics]=8002 [huggingface]=8003)

if ! kind get clusters | grep -qx "$CLUSTER"; then
  kind create cluster --name "$CLUSTER" --config k8s/kind-config.yaml
fi

docker build -f gateway/Dockerfile -t "trainyard/gateway:$TAG" .
kind load docker-image --name "$CLUSTER" "trainyard/gateway:$TAG"
for fw in "${FRAMEWORKS[@]}"; do
  docker build -f services/Dockerfile --build-arg "FRAMEWORK=$fw" --build-arg "PORT=${PORTS[$fw]}" \
    --build-arg "TORCH_VARIANT=$TORCH_VARIANT" -t "trainyard/$fw:$TAG" .
  kind load docker-image --name "$CLUSTER" "trainyard/$fw:$TAG"
done

kubectl apply -f k8s/namespace.yaml
kubectl apply -f k8s/rbac.yaml -f k8s/quota.yaml -f k8s/config.yaml
kubectl -n training patch configmap trainyard-config --type merge \
  -p "{\"data\": {\"TRAINYARD_IMAGE_VERSION\": \"$TAG\", \"STORAGE_URI\": \"${STORAGE_URI:-s3://trainyard/runs}\"}}"
if [[ -n "${TRAINYARD_INTERNAL_TOKEN:-}" ]]; then
  kubectl -n training create secret generic trainyard-internal \
    --from-literal=TRAINYARD_INTERNAL_TOKEN="$TRAINYARD_INTERNAL_TOKEN" \
    --dry-run=client -o yaml | kubectl apply -f -
fi
kubectl apply -f k8s/gateway.yaml
for fw in "${FRAMEWORKS[@]}"; do
  kubectl apply -f "k8s/$fw.yaml"
done
# The gateway on localhost:8000 (kind-config.yaml maps node port 30800 there).
kubectl -n training patch service trainyard-gateway --type merge \
  -p '{"spec": {"type": "NodePort", "ports": [{"name": "http", "port": 8000, "targetPort": "http", "nodePort": 30800}]}}'
kubectl -n training rollout status deployment --timeout=300s
echo "gateway: http://127.0.0.1:8000/docs   jobs: kubectl -n training get jobs -l app.kubernetes.io/managed-by=trainyard"
