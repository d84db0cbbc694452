# syntax=docker/dockerfile:1
# The model's Ray image (head and GPU workers of the RayService): Ray on CUDA, with the likeness
# package and its serve and model extras. The base tag's Ray version must equal the ray pin in pyproject.toml
# and the RayService's rayVersion (tests/unit/test_k8s_manifests.py checks all three).
# Build from the repository root:
#   docker build -f deploy/docker/model.Dockerfile -t likeness/model:TAG .
ARG RAY_IMAGE=rayproject/ray:2.60.0-py311-gpu

FROM ${RAY_IMAGE} AS build
USER root
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY likeness likeness
COPY services services
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM ${RAY_IMAGE}
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# The base image's ray user (1000, group users) owns its Python environment.
USER 1000:100
COPY --from=build --chown=1000:100 /wheels /tmp/wheels
RUN pip install "$(ls /tmp/wheels/likeness-*.whl)[serve,model,fp8,fa4]" && rm -rf /tmp/wheels
# Weights come from the volume the fetch-weights init container fills, never from a hub.
ENV HF_HUB_OFFLINE=1
