"""A small real backend outside the package: a greedy decode loop over a transformers causal LM
(model forward with past_key_values), one request at a time.

It shows that a new backend is its file plus one registry line (bench.registry.register_backend)
and is measured in an A/B experiment like the built-in ones, because it declares what it can
report (bench.backends.base.Backend):
- KV element size: its cache holds K/V in the model's `dtype` (float32 or bfloat16);
- speculative decoding by prompt lookup (`lookup_tokens` > 0): the next tokens after the latest
  earlier occurrence of the last `LOOKUP_NGRAM` tokens are drafted and verified in one forward;
  its draft/accept counters (stats) give the acceptance metrics the vLLM way (engine counters);
- prompt logprobs (teacher_forced = "live"): one forward over the forced tokens.
"""
from __future__ import annotations

import asyncio
from typing import Any, Literal
from collections.abc import AsyncIterator

from pydantic import Field

from bench.backends.base import Backend, BackendOptions, Chunk
from bench.metrics import speculative
from bench.metrics.roofline import dtype_bytes
from bench.types import Request

LOOKUP_NGRAM = 2


class LoopOptions(BackendOptions):
    dtype: Literal["float32", "bfloat16"] = "float32"        # weights, activations and KV cache
    lookup_tokens: int = Field(default=0, ge=0)              # prompt-lookup draft length; 0: off
    torch_threads: int = Field(default=1, ge=1)


def lookup_draft(context: list[int], k: int) -> list[int]:
    """Up to k tokens that followed the latest earlier occurrence of the context's last n-gram."""
    if k <= 0 or len(context) <= LOOKUP_NGRAM:
        return []
    tail = context[-LOOKUP_NGRAM:]
    for start in range(len(context) - LOOKUP_NGRAM - 1, -1, -1):
        if context[start:start + LOOKUP_NGRAM] == tail:
            return context[start + LOOKUP_NGRAM:start + LOOKUP_NGRAM + k]
    return []


class LoopBackend(Backend):
    name = "loop"
    Options = LoopOptions
    version_dists = ("transformers",)
    teacher_forced = "live"

    @classmethod
    def kv_element_bytes(cls, model_cfg: dict[str, Any], options: dict[str, Any]) -> float:
        return float(dtype_bytes(options.get("dtype", "float32"), 4))

    @classmethod
    def is_speculative(cls, options: dict[str, Any]) -> bool:
        return bool(options.get("lookup_tokens"))

    @classmethod
    def spec_metrics(cls, options: dict[str, Any], engine: dict[str, float], samples: list) -> dict[str, float]:
        return speculative.from_engine(engine)

    async def start(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        torch.set_num_threads(self.options.torch_threads)
        self.torch = torch
        self.lm = AutoModelForCausalLM.from_pretrained(self.model, dtype=getattr(torch, self.options.dtype)).eval()
        self._lock = asyncio.Lock()            # one request at a time: a loop, not a server
        self._counters = {"spec_decode_num_drafts": 0.0, "spec_decode_num_draft_tokens": 0.0,
                          "spec_decode_num_accepted_tokens": 0.0}

    def _forward(self, token_ids: list[int], cache):
        """Greedy next token after each of `token_ids`, given (and extending) the cache."""
        with self.torch.inference_mode():
            out = self.lm(input_ids=self.torch.tensor([token_ids]), past_key_values=cache, use_cache=True)
        return out.logits[0].argmax(-1).tolist(), out.past_key_values

    def _step(self, context: list[int], pending: int, cache, room: int) -> tuple[list[int], Any]:
        """Verify a draft after `pending` (the last token, not yet in the cache): the accepted draft
        tokens plus the model's own next one."""
        draft = lookup_draft(context, min(self.options.lookup_tokens, room - 1))
        preds, cache = self._forward([pending, *draft], cache)
        accepted = next((i for i, (d, p) in enumerate(zip(draft, preds)) if d != p), len(draft))
        if draft:
            self._counters["spec_decode_num_drafts"] += 1
            self._counters["spec_decode_num_draft_tokens"] += len(draft)
            self._counters["spec_decode_num_accepted_tokens"] += accepted
            if accepted < len(draft):          # drop the rejected drafts' K/V
                cache.crop(accepted - len(draft))
        return [*draft[:accepted], preds[accepted]], cache

    async def stream(self, request: Request) -> AsyncIterator[Chunk]:
        async with self._lock:
            from transformers import DynamicCache

            context = list(request.prompt_token_ids)
            preds, cache = await asyncio.to_thread(self._forward, context, DynamicCache())
            new, sent = [preds[-1]], 0
            while True:
                new = new[:request.max_output_tokens - sent]
                sent += len(new)
                yield Chunk(token_ids=tuple(new))
                if sent >= request.max_output_tokens:
                    return
                context += new
                new, cache = await asyncio.to_thread(self._step, context, context[-1], cache,
                                                     request.max_output_tokens - sent)

    async def prompt_logprobs(self, token_ids: list[int], k: int) -> list[dict[int, float]]:
        def run() -> list[dict[int, float]]:
            with self.torch.inference_mode():
                lp = self.lm(input_ids=self.torch.tensor([token_ids])).logits[0].float().log_softmax(-1)
            out = []
            for j in range(len(token_ids) - 1):        # entry j predicts token j + 1
                top = lp[j].topk(k)
                entry = {int(t): float(v) for t, v in zip(top.indices, top.values)}
                entry[token_ids[j + 1]] = float(lp[j, token_ids[j + 1]])
                out.append(entry)
            return out

        return await asyncio.to_thread(run)

    def stats(self) -> dict[str, float]:
        return dict(getattr(self, "_counters", {}))

    def info(self) -> dict[str, Any]:
        import transformers
        return {"backend": self.name, "transformers": transformers.__version__, "dtype": self.options.dtype}
