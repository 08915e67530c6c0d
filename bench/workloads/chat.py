"""Single-turn chat: prompt and output lengths drawn from published distributions."""
from __future__ import annotations

from typing import Literal

from bench.workloads.dists import Dist
from bench.types import Request, SingleRequest
from bench.workloads.base import Workload, WorkloadParams, session_rng
from bench.workloads.thinking import ThinkingFields, ThinkMarkers, draw_thinking
from bench.workloads.tokens import PromptFactory


class ChatParams(ThinkingFields, WorkloadParams):
    kind: Literal["chat"] = "chat"
    input_tokens: Dist
    output_tokens: Dist


class ChatWorkload(Workload):
    Params = ChatParams
    unit = "turn"

    def __init__(self, params: ChatParams, tokenizer, seed: int):
        super().__init__(params, tokenizer, seed)
        self.prompts = PromptFactory(tokenizer, seed)
        self.markers = ThinkMarkers.of(tokenizer) if params.thinking_tokens is not None else None

    def session(self, index: int) -> SingleRequest:
        p = self.params
        rng = session_rng(self.seed, index)
        n_in = p.input_tokens.sample_int(rng, p.scale)
        n_out = p.output_tokens.sample_int(rng, p.scale)
        think = draw_thinking(p.thinking_tokens, rng, p.scale)
        prompt = self.prompts.tokens(rng, n_in)
        if think is None:
            return SingleRequest(Request(id=f"r{index}", prompt_token_ids=prompt, max_output_tokens=n_out))
        # The template opens the thought; the output is the thought, </think>, the answer.
        m = self.markers
        return SingleRequest(Request(id=f"r{index}", prompt_token_ids=prompt + m.start,
                                     max_output_tokens=m.output_tokens(think, n_out),
                                     thinking_tokens=think, answer_tokens=n_out))
