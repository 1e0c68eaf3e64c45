#!/usr/bin/env bash
# The GPU check of a session that is lent a device, in one call of under 10 minutes; logs and results under $OUT.
#
# Prepare on the CPU machine, from the repository root (once):
#   mkdir -p .whl && python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl \
#       diffusers==0.42.1 torch-fidelity==0.4.0 clean-fid==0.1.35 importlib_metadata==10.2.0
#   mkdir -p .data/FashionMNIST/raw && cp -r ../shared/data/MNIST .data/ \
#       && cp ../shared/data/FashionMNIST/raw/t10k-* .data/FashionMNIST/raw/    # .data/ is git-ignored
# then run it with the device tool, carrying .whl and .data:
#   run(command="bash scripts/device_check.sh", carry=[".whl", ".data"], timeout_s=600)
# A whole check takes more than one call: first STAGES="evaluate scale tests", then STAGES=sa.
#
# Stages, run one at a time in this order (STAGES picks some, e.g. STAGES="evaluate tests"; CHECK_SECONDS is the
# time they share; the timed stages run alone on the GPU, so their timings are clean):
#   evaluate  benchmark_evaluate.py at 1,000 samples per class (the GPU target: 60 s with the statistics cached);
#   scale     benchmark_scale.py on a random DiT-XL/2-256, made there (3.2 GB does not travel), SCALE_METHODS
#             (default sfron,salun,sa) with SCALE_ARGS (e.g. --skip-sampling, --batch-sizes 16 --grad-accum 2),
#             then SFR-on with remain_guidance=null (SCALE_UNGUIDED=0 skips it);
#   tests     the test suite, one torch thread per worker (12 workers of 16 threads each starved the machine);
#   sa        SA's long run on mnist-ddpm class 3 (benchmark_methods.py --save-pipelines), cut off at the deadline;
#             the weights it reached come back in sa_pipelines.tar, to be evaluated with the real Inception.
# The 84 MB FID Inception and Fashion-MNIST's training images do not fit in a call: a random-weight Inception in
# the same layout (make_random_inception.py) stands in for timing and for the tests, so FID values made here
# are meaningless, and tests that read Fashion-MNIST fail there for that reason alone (its loader wants every file).
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
deadline=$(($(date +%s) + ${CHECK_SECONDS:-570}))
left() { echo $((deadline - $(date +%s) - $1)); }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
# no GEN_UNLEARN_CACHE: each test worker gets a private cache, as in CI
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1 GEN_UNLEARN_DATA_ROOT="$PWD/.data"
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . >"$OUT/setup.log" 2>&1  # the gen-unlearn command
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; python3 -c "import torch; print(torch.__version__)"; } | tee -a "$OUT/setup.log"
mkdir -p ../shared && ln -sfn "$PWD/.data" ../shared/data  # where the tests look
python3 scripts/make_random_inception.py --output ../shared/weights >>"$OUT/setup.log" 2>&1
mkdir -p /tmp/results
stages=" ${STAGES:-evaluate scale tests sa} "

if [[ $stages == *" evaluate "* ]]; then
  timeout 90 python3 scripts/benchmark_evaluate.py --num-samples 1000 --device cuda --inception ../shared/weights \
      --output /tmp/results/evaluate 2>&1 | tee "$OUT/evaluate.log" | grep -v "it/s\|img/s"
fi
if [[ $stages == *" scale "* ]]; then
  python3 scripts/make_random_dit_xl.py --output /tmp/dit-xl >>"$OUT/setup.log" 2>&1
  timeout 210 python3 scripts/benchmark_scale.py /tmp/dit-xl --device cuda --mixed-precision bf16 \
      --methods "${SCALE_METHODS:-sfron,salun,sa}" --batch-sizes 32 --set sa.replay_samples=64 --set sa.fisher_samples=2 \
      --set sa.fisher_timesteps=64 ${SCALE_ARGS:-} --output /tmp/results/scale 2>&1 | tee "$OUT/scale.log"
  # SFR-on's remain step with the old per-branch distillation, to compare the guided default's time and memory with
  [[ ${SCALE_UNGUIDED:-1} == 1 ]] && timeout 90 python3 scripts/benchmark_scale.py /tmp/dit-xl --device cuda --mixed-precision bf16 --methods sfron \
      --batch-sizes 32 --skip-sampling --set sfron.remain_guidance=null --output /tmp/results/scale-unguided 2>&1 \
      | tee "$OUT/scale-unguided.log"
fi
if [[ $stages == *" tests "* ]]; then
  OMP_NUM_THREADS=1 timeout "$(left 10)" python3 -m pytest -n 14 -v -rfE --tb=line -p no:cacheprovider 2>&1 \
      | grep -v "Benchmark\|warner(" | tee "$OUT/tests.log" | grep -v PASSED | tail -60
fi
if [[ $stages == *" sa "* ]]; then
  timeout "$(left 10)" python3 scripts/benchmark_methods.py --jobs mnist-ddpm:3:mnist-ddpm-without-3 --methods sa \
      --steps 0,1000,2500,5000,10000,20000 --num-samples 20 --reference-per-class 200 --fid-backends "" \
      --save-pipelines --device cuda --output /tmp/sa-long >"$OUT/sa.log" 2>&1
  tar -cf "$OUT/sa_pipelines.tar" -C /tmp/sa-long . 2>/dev/null
fi
tar -cf "$OUT/results.tar" -C /tmp/results . 2>/dev/null
ls -la "$OUT"
