#!/usr/bin/env bash
# Wheels for the GPU lease machine (Python 3.12, x86-64, no network there): the project's
# dependencies its image lacks (pydantic and its parts, httptools, msgspec; typing_extensions for
# a version pydantic accepts). Everything else bench imports for `run` and `selftest` (torch,
# transformers, numpy, pandas, pyarrow, scipy, rich, httpx, psutil, uvloop, prometheus-client,
# nvidia-ml-py, pyyaml) is in that image. plotly (report only) is left out to keep the carry small.
# Versions are this venv's, so both sides run what the tests ran.
#   scripts/device_wheels.sh        -> .whl/ (git-ignored), then run scripts/device_check.sh there
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
names=(pydantic pydantic_core annotated_types typing_inspection typing_extensions httptools msgspec)
pins=()
for n in "${names[@]}"; do
  v=$("$PY" -c "import importlib.metadata as m; print(m.version('$n'))")
  pins+=("$n==$v")
done
mkdir -p .whl
plat=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  plat+=(--platform "$p")
done
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${plat[@]}" -d .whl "${pins[@]}"
ls -1 .whl
du -sh .whl
