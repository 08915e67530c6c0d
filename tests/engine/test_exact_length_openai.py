"""Forced output lengths through the openai backend against a real vLLM server on loopback
(one for the module) serving the tiny model that emits EOS at once (tests/helpers/eos_model.py)."""
from __future__ import annotations

import pytest

from bench.backends.openai_http import OpenAIBackend
from bench.config_server import ServerSpec
from bench.run.server import ManagedServer
from bench.types import Request
from tests.helpers.eos_model import build_eos_model
from tests.helpers.vllm_helpers import check_stream, distinct_prompts, request, run
from tests.helpers.vllm_present import skip_without_vllm


@pytest.fixture(scope="module")
def served(loop, tiny_path, tmp_path_factory):
    skip_without_vllm()
    path = build_eos_model(tiny_path, tmp_path_factory.mktemp("eos") / "tiny-eos")
    srv = ManagedServer(ServerSpec(args=["--max-model-len", "512", "--uvicorn-log-level", "warning"],
                                   env={"VLLM_CPU_KVCACHE_SPACE": "1"}), path)
    loop.run_until_complete(srv.start())
    yield path, srv
    loop.run_until_complete(srv.stop())


@pytest.mark.parametrize("extras", [True, False], ids=["vllm_extras", "plain_openai"])
def test_openai_backend_forces_length_or_reports_the_mismatch(served, loop, tiny_tokenizer, extras):
    path, srv = served
    backend = OpenAIBackend(path, {"base_url": srv.url + "/v1", "vllm_extras": extras})
    loop.run_until_complete(backend.start())
    prompts = distinct_prompts(4, 20, salt=6)
    free = Request(id="free", prompt_token_ids=prompts[0], max_output_tokens=20, ignore_eos=False)
    reqs = [request(f"f{i}", p, n) for i, (p, n) in enumerate(zip(prompts[1:], (1, 9, 33)))]
    natural, *forced = run(loop, backend, [free, *reqs])
    loop.run_until_complete(backend.stop())
    if extras:
        assert natural.ok and natural.output_tokens == 1          # the model really stops at once
    else:   # counted from text, and EOS has none: nothing arrived
        assert natural.error.startswith("empty_response")
    for s, r in zip(forced, reqs):
        if extras:                                                # ignore_eos + min_tokens sent
            check_stream(s, r)
        else:                                                     # a server that cannot force it:
            assert not s.ok and s.error.startswith(("length_mismatch", "empty_response"))   # never silent
