#!/usr/bin/env bash
# The GPU check of a session that is lent a device: the test suite and the real-scale benchmark, logs under $OUT.
#
# Prepare on the CPU machine, from the repository root (once):
#   mkdir -p .whl && python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl \
#       diffusers==0.42.1 torch-fidelity==0.4.0 clean-fid==0.1.35 importlib_metadata==10.2.0
#   mkdir -p .data && cp -r ../shared/data/MNIST ../shared/data/FashionMNIST .data/   # .data/ is git-ignored
# then run it with the device tool, carrying .whl and .data:
#   run(command="bash scripts/device_check.sh", carry=[".whl", ".data"], timeout_s=540)
# The 84 MB FID Inception does not travel: tests that need it fail there for that reason alone.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1 GEN_UNLEARN_DATA_ROOT="$PWD/.data" GEN_UNLEARN_CACHE=/tmp/gen-unlearn-cache
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"

# the random DiT-XL/2-256 (3.2 GB, made there: it does not travel), then the figures the scale issue asks for
python3 scripts/make_random_dit_xl.py --output /tmp/dit-xl 2>&1 | tee "$OUT/make_dit.log"
timeout 300 python3 scripts/benchmark_scale.py /tmp/dit-xl --device cuda --mixed-precision bf16 \
    --methods sfron,salun,sa --batch-sizes 32 --set sa.replay_samples=64 --set sa.fisher_samples=2 \
    --set sa.fisher_timesteps=64 --output "$OUT/scale" 2>&1 | tee "$OUT/scale.log"

# the whole test suite on a machine with a GPU: the only place GPU bugs show
timeout 200 python3 -m pytest -n 8 -rfE --tb=line -p no:cacheprovider 2>&1 | tee "$OUT/tests.log"
