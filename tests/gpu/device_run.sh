#!/usr/bin/env bash
# The GPU checks in one call (at most 6 minutes on one H100/H200): the CUDA tests, then the GPU
# benchmark (tests/benchmarks/bench_gpu.py), whose tables are appended to docs/gpu-results.md.
#
#   bash tests/gpu/device_run.sh            on a machine with a CUDA GPU
#   bash tests/gpu/device_run.sh --smoke    the same steps, tiny, on the CPU (CI runs this):
#                                           the CUDA tests run on the CPU through
#                                           GALAXY_STUDIO_GPU_TESTS_ON=cpu, the benchmark's
#                                           tables go to a temporary file
#
# Environment: PYTHON (default python3), GPU_RUN_LOGS (folder for the logs and a copy of the results; default a temporary
# folder), CIFAR10_DIR (CIFAR-10 as train/<class>/ JPEGs or train.zip; default ../shared/data/cifar10
# when it exists). Exits non-zero when a test or a benchmark section failed; every step runs.
set -uo pipefail
cd "$(dirname "$0")/../.."

smoke=0
if [[ "${1:-}" == "--smoke" ]]; then
    smoke=1
elif [[ $# -gt 0 ]]; then
    echo "usage: bash tests/gpu/device_run.sh [--smoke]" >&2
    exit 2
fi
logs="${GPU_RUN_LOGS:-$(mktemp -d)}"
mkdir -p "$logs"
export PYTHONUNBUFFERED=1
cifar="${CIFAR10_DIR:-../shared/data/cifar10}"
status=0
python="${PYTHON:-python3}"

if [[ $smoke == 1 ]]; then
    results="$logs/gpu-results-smoke.md"
    : > "$results"
    tests=(env GALAXY_STUDIO_GPU_TESTS_ON=cpu timeout 600 "$python" -m pytest -m gpu tests/gpu -q -rs -p no:cacheprovider)
    bench=(timeout 300 "$python" tests/benchmarks/bench_gpu.py --smoke --results "$results" --cifar-per-class 20)
else
    results="docs/gpu-results.md"
    tests=(timeout 120 "$python" -m pytest -m gpu tests/gpu -v -rfEs --tb=short -p no:cacheprovider -o faulthandler_timeout=45)
    bench=(timeout 240 "$python" tests/benchmarks/bench_gpu.py --results "$results" --budget-s 200)
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$logs/nvidia-smi.txt"
fi
if [[ -e "$cifar/train" || -e "$cifar/train.zip" ]]; then
    bench+=(--cifar "$cifar")
else
    echo "no CIFAR-10 at $cifar: the end-to-end section distils demo galaxies instead" >&2
fi

echo "== CUDA tests: ${tests[*]}"
started=$SECONDS
"${tests[@]}" 2>&1 | tee "$logs/tests.log" || status=1
echo "== tests took $((SECONDS - started)) s"

echo "== benchmark: ${bench[*]}"
started=$SECONDS
PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" "${bench[@]}" 2>&1 | tee "$logs/bench.log" || status=1
echo "== benchmark took $((SECONDS - started)) s"
{
    echo "### CUDA tests of this run"
    echo
    echo "\`pytest -m gpu tests/gpu\`: $(grep -E '(passed|failed|skipped|error)' "$logs/tests.log" | tail -1 | tr -d '=')"
    grep -E '^(FAILED|ERROR) ' "$logs/tests.log" | sed 's/^/- /'
    echo
} >> "$results"
cp "$results" "$logs/" 2>/dev/null
exit $status
