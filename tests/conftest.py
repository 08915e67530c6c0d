"""Shared fixtures: the tiny model is built once per session into a temporary cache."""
from __future__ import annotations

import asyncio
import os

import pytest

# Tests share one model cache across the session; a user's cache stays untouched unless they
# set BENCH_CACHE themselves.
os.environ.setdefault("BENCH_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "bench-tests"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


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
