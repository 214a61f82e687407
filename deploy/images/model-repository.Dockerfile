# image: registry.example.com/anpr/model-repository      (TARGET=tensorrt, overlay gpu-prod)
# image: registry.example.com/anpr/model-repository-cpu  (TARGET=cpu, overlay cpu-dev)
# The rendered Triton model repository at /model_repository; Triton's init container copies it into
# /models (and on GPUs builds the TensorRT plans there with build_engines.sh, on the serving GPU).
#
#   docker build -f deploy/images/model-repository.Dockerfile --build-arg TARGET=tensorrt \
#       --build-arg VERSIONS="1 2 3" -t registry.example.com/anpr/model-repository:1-2-3 .
#   docker build -f deploy/images/model-repository.Dockerfile --build-arg TARGET=cpu \
#       --build-arg VERSIONS="1 2 3" -t registry.example.com/anpr/model-repository-cpu:1-2-3 .
#
# VERSIONS are the model versions served side by side (README "Model rollout"); each must exist
# in model_repository/. The tag names them ("1-2-3") and goes into the overlay's `images:`
# (k8s/overlays/*/kustomization.yaml).
FROM python:3.11.11-slim-bookworm AS render
ARG TARGET=tensorrt
ARG VERSIONS="1 2"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY server server
COPY training training
COPY benchmarks benchmarks
COPY model_repository model_repository
RUN pip install --no-cache-dir . \
    && anpr models build --target "$TARGET" --versions $VERSIONS \
        --model-repository model_repository --output /model_repository

FROM busybox:1.37.0
COPY --from=render /model_repository /model_repository
