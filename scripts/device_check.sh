#!/usr/bin/env bash
# The prepared GPU-lease check, one command on the device machine (see docs/gpu.md):
#   1. configs/gpu-check.yaml: the 8B preset through HF eager at batch 1 and 8; its summaries give
#      decode tok/s, MBU and the roofline (the results folder comes back as results.tgz);
#   2. bench selftest with 1 worker against 4, 8 and 15 (the lease host has 16 cores): chunks/s
#      and the largest open-loop rate whose p99 send lag stays under 1 ms, per worker count.
# Here first: scripts/device_wheels.sh (fills .whl/). Then through the device tool, from the repo
# root, with carry [".whl"] and a timeout that leaves room for a rerun:
#   bash scripts/device_check.sh
# Everything it prints also goes to $OUT/device_check.log. A dry run on a CPU machine, with
# the tiny model through hf and 2 workers (what each part does, not what a GPU gives):
#   OUT=/tmp/dc PY=.venv/bin/python CHECK_CONFIG=configs/hf-sweep.yaml SELFTEST_WORKERS=2 scripts/device_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/device_check}
CHECK_CONFIG=${CHECK_CONFIG:-configs/gpu-check.yaml}
SELFTEST_WORKERS=${SELFTEST_WORKERS:-4 8 15}
SELFTEST_RATES=${SELFTEST_RATES:-2000 3000 4000 6000 8000}
SELFTEST_SECONDS=${SELFTEST_SECONDS:-2}
PY=${PY:-python3}
RESULTS=${RESULTS:-/tmp/device_check_results}   # unpack results.tgz into results/ here to commit
mkdir -p "$OUT"
exec > >(tee "$OUT/device_check.log") 2>&1
export PYTHONUNBUFFERED=1
# The wheels only where the packages are missing (the lease machine's image), not over a venv.
if ! "$PY" -c "import pydantic, httptools, msgspec" 2>/dev/null && compgen -G ".whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "device_check: installing .whl/ failed"; exit 2; }
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
"$PY" -c "import bench.cli, pydantic, httptools, msgspec" \
  || { echo "device_check: bench does not import (run scripts/device_wheels.sh here, carry .whl)"; exit 2; }
echo "== machine"; nproc; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | head -3
"$PY" -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'transformers', transformers.__version__)"

echo "== 1. $CHECK_CONFIG"
rm -rf "$RESULTS"
timeout "${RUN_TIMEOUT_S:-330}" "$PY" -m bench run "$CHECK_CONFIG" --results-dir "$RESULTS" --no-progress
echo "bench run exit code $?"
"$PY" - "$RESULTS" <<'PY'
import json, pathlib, sys
keys = ("completed", "output_tok_s", "tpot_ms_mean", "ttft_ms_p50", "mbu", "roofline_decode_tok_s",
        "gpu_mem_used_peak_mb", "gpu_j_per_output_tok")
for run in sorted(pathlib.Path(sys.argv[1]).glob("*/run.json")):
    meta = json.loads(run.read_text())
    s = meta.get("summary", {})
    print(run.parent.name, meta.get("status"), {k: s[k] for k in keys if k in s})
PY
tar czf "$OUT/results.tgz" -C "$RESULTS" . 2>/dev/null && echo "results: \$OUT/results.tgz"

echo "== 2. selftest"
for w in $SELFTEST_WORKERS; do
  echo "-- 1 worker against $w"
  rates=(); for r in $SELFTEST_RATES; do rates+=(--rate "$r"); done
  timeout "${SELFTEST_TIMEOUT_S:-100}" "$PY" -m bench selftest --workers "$w" --chunks 64 \
    --seconds "$SELFTEST_SECONDS" "${rates[@]}"
  echo "selftest exit code $?"
done
