"""Single-turn chat: prompt and output lengths drawn from published distributions."""
from __future__ import annotations

from typing import Literal

from bench.workloads.dists import Dist
from bench.types import Request, SingleRequest
from bench.workloads.base import Workload, WorkloadParams, session_rng
from bench.workloads.tokens import PromptFactory


class ChatParams(WorkloadParams):
    kind: Literal["chat"] = "chat"
    input_tokens: Dist
    output_tokens: Dist


class ChatWorkload(Workload):
    Params = ChatParams
    unit = "turn"

    def __init__(self, params: ChatParams, tokenizer, seed: int):
        super().__init__(params, tokenizer, seed)
        self.prompts = PromptFactory(tokenizer, seed)

    def session(self, index: int) -> SingleRequest:
        p = self.params
        rng = session_rng(self.seed, index)
        n_in = p.input_tokens.sample_int(rng, p.scale)
        n_out = p.output_tokens.sample_int(rng, p.scale)
        req = Request(id=f"r{index}", prompt_token_ids=self.prompts.tokens(rng, n_in),
                      max_output_tokens=n_out)
        return SingleRequest(req)
