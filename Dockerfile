# bench on a CUDA machine: vLLM's own image (CUDA, PyTorch and vLLM already matched) plus this
# project. Build and run (needs the NVIDIA container toolkit):
#   docker build -t bench .
#   docker run --rm --gpus all --ipc=host -v "$PWD/results:/app/results" bench run configs/gpu-h100.yaml
# Pin the tag for reproducible numbers, e.g. --build-arg VLLM_IMAGE=vllm/vllm-openai:v0.11.0
ARG VLLM_IMAGE=vllm/vllm-openai:latest
FROM ${VLLM_IMAGE}

WORKDIR /app
ENV BENCH_CACHE=/app/.cache/bench \
    TOKENIZERS_PARALLELISM=false \
    PYTHONUNBUFFERED=1

# Dependencies first (cached layer); torch and vllm come from the image and are not replaced:
# the constraints file pins them to the versions the image ships.
COPY pyproject.toml README.md ./
COPY bench ./bench
RUN python3 -c "import importlib.metadata as m; print('\n'.join(f'{d}=={m.version(d)}' for d in ('torch', 'vllm')))" > /tmp/constraints.txt \
 && python3 -m pip install --no-cache-dir -c /tmp/constraints.txt ".[gpu,quant,test,ray]" \
 && python3 -c "import bench, torch, vllm; print('bench ok; torch', torch.__version__, 'vllm', vllm.__version__)"

COPY configs ./configs
COPY workloads ./workloads
COPY traces ./traces
COPY tests ./tests

# Results land in /app/results: mount a host folder there to keep them.
ENTRYPOINT ["bench"]
CMD ["--help"]
