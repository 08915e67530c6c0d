"""Output fidelity of a treatment against the baseline on the same prompts.

Requests are identical across the arms of an experiment (same workload, same seed), so the
treatment's samples are matched to the baseline's by request id. Greedy decoding (temperature 0)
is what makes the comparison meaningful. Over matched, successful requests:
- `fid_token_agreement`  = positions where both outputs have the same token / positions compared
  (each request compared over its shorter output). After a divergence, agreement is by chance.
- `fid_prefix_agreement` = mean over requests of (first divergence position / tokens compared):
  the share of each output produced before it first differs; 1.0 when identical.
- `fid_exact_match_rate` = requests whose outputs are identical / requests compared.
- `fid_first_divergence_mean` = mean 0-based position of the first differing token, over the
  requests that diverge (absent when none does); `fid_diverged` counts them.
- `fid_requests` = requests compared.

Teacher-forced (`hf`: computed after the runs, in process, on up to
`MAX_TF_REQUESTS` requests): the treatment's model and cache settings decode the *baseline's*
output tokens one step at a time (generate with those tokens forced, raw logits kept), and so do
the baseline's settings. Then
- `tf_top1_agreement` = positions where the treatment's most likely token is the baseline's token;
- `tf_kl_mean`        = mean over positions of KL(baseline || treatment) of the next-token
  distributions, in nats.
For `vllm` (computed by the runner when an experiment's last run is done, while the arms' engines
are still up, on up to `MAX_TF_REQUESTS` requests of the first baseline run per load point): each
engine gets the baseline's prompt + output tokens as one prompt with `prompt_logprobs=TF_TOP_K`
(vLLM skips the prefix cache for such requests); the entries at the positions that predict the
output tokens give the same two metrics, with
- `tf_top1_agreement` as above (the treatment engine's most likely token is the baseline's token);
- `tf_kl_mean` a top-K approximation: per position, both distributions restricted to the union
  of their listed ids (top `TF_TOP_K` plus the actual token), an id one side does not list gets
  that side's smallest listed probability (an upper bound: it ranked lower), both renormalised on
  the union, then KL(baseline || treatment). Mass outside both top-K lists is not seen.
The forced tokens are a prefill, not decode steps: the arm's KV-cache dtype is seen as far as the
attention backend reads K/V back from the paged cache in prefill (vLLM's CPU attention does:
`cpu_attention_with_kv_cache`); a backend that attends the fresh K/V in prefill would show less.
Not computed for speculative arms (their tokens are verified by the target model, whose logits are the
baseline's: speculative decoding changes no distribution under greedy verification, and what it
changes in practice is what the greedy agreement shows).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from bench.types import Sample

MAX_TF_REQUESTS = 16
# A treatment arm's live teacher-forced metrics, in its first run's folder (written while the
# experiment's engines are up, read by the experiment's analysis).
TEACHER_FORCED_FILE = "teacher_forced.json"
TF_TOP_K = 20          # vLLM's default max_logprobs
SPECULATIVE_KEYS = ("prompt_lookup_num_tokens",)


def pairs(base: list[Sample], treat: list[Sample]) -> list[tuple[Sample, Sample]]:
    by_id = {s.request_id: s for s in base if s.ok and s.output_token_ids}
    return [(by_id[s.request_id], s) for s in treat if s.ok and s.output_token_ids and s.request_id in by_id]


def first_divergence(a: tuple[int, ...], b: tuple[int, ...]) -> int | None:
    """0-based position of the first differing token over the shorter length; None if none."""
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)


def greedy(base: list[Sample], treat: list[Sample]) -> dict[str, float]:
    return greedy_of(pairs(base, treat))


def greedy_of(matched: list[tuple[Sample, Sample]]) -> dict[str, float]:
    """The greedy metrics over (baseline, treatment) pairs of the same request."""
    if not matched:
        return {}
    same = compared = exact = 0
    prefix, firsts = [], []
    for a, b in matched:
        n = min(len(a.output_token_ids), len(b.output_token_ids))
        compared += n
        same += sum(x == y for x, y in zip(a.output_token_ids[:n], b.output_token_ids[:n]))
        first = first_divergence(a.output_token_ids, b.output_token_ids)
        exact += first is None and len(a.output_token_ids) == len(b.output_token_ids)
        prefix.append((n if first is None else first) / n)
        if first is not None:
            firsts.append(first)
    out = {"fid_requests": float(len(matched)), "fid_token_agreement": same / compared,
           "fid_prefix_agreement": float(np.mean(prefix)), "fid_exact_match_rate": exact / len(matched),
           "fid_diverged": float(len(firsts))}
    if firsts:
        out["fid_first_divergence_mean"] = float(np.mean(firsts))
    return out


def _load_hf(model_path: str, options: dict[str, Any]):
    import torch
    from transformers import AutoModelForCausalLM

    device = options.get("device", "auto")
    device = device if device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = options.get("dtype", "auto")
    dtype = dtype if dtype != "auto" else ("bfloat16" if device == "cuda" else "float32")
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, dtype),
                                                 **(options.get("model_kwargs") or {}))
    return model.to(device).eval(), device


def _forced_logits(model, device: str, gen_kwargs: dict[str, Any], prompt: tuple[int, ...],
                   forced: tuple[int, ...]):
    """Raw next-token logits at each output position while decoding exactly `forced`, through
    generate (so the arm's cache implementation is the one that stores and reads the KV)."""
    import torch
    from transformers import LogitsProcessor, LogitsProcessorList

    start = len(prompt)

    class Force(LogitsProcessor):
        def __call__(self, input_ids, scores):
            out = torch.full_like(scores, float("-inf"))
            out[:, forced[input_ids.shape[1] - start]] = 0.0
            return out

    with torch.inference_mode():
        res = model.generate(torch.tensor([list(prompt)], device=device), max_new_tokens=len(forced),
                             min_new_tokens=len(forced), do_sample=False, eos_token_id=None,
                             pad_token_id=0, logits_processor=LogitsProcessorList([Force()]),
                             output_logits=True, return_dict_in_generate=True, **gen_kwargs)
    return torch.cat(res.logits, dim=0).float()       # (len(forced), vocab)


def _tf_kwargs(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in (options.get("generate_kwargs") or {}).items() if k not in SPECULATIVE_KEYS}


def teacher_forced_hf(model_path: str, base_options: dict[str, Any], treat_options: dict[str, Any],
                      base: list[Sample], prompts: dict[str, tuple[int, ...]]) -> dict[str, float]:
    """Top-1 agreement and mean KL of the treatment's settings on the baseline's tokens (HF)."""
    import torch

    todo = [s for s in base if s.ok and s.output_token_ids and s.request_id in prompts][:MAX_TF_REQUESTS]
    if not todo:
        return {}
    base_model, device = _load_hf(model_path, base_options)
    same_model = (base_options.get("dtype"), base_options.get("model_kwargs")) == \
        (treat_options.get("dtype"), treat_options.get("model_kwargs"))
    treat_model = base_model if same_model else _load_hf(model_path, treat_options)[0]
    top1 = kl = n = 0.0
    for s in todo:
        prompt, tokens = prompts[s.request_id], s.output_token_ids
        lb = _forced_logits(base_model, device, _tf_kwargs(base_options), prompt, tokens).log_softmax(-1)
        lt = _forced_logits(treat_model, device, _tf_kwargs(treat_options), prompt, tokens).log_softmax(-1)
        target = torch.tensor(tokens, device=lt.device)
        top1 += float((lt.argmax(-1) == target).sum())
        kl += float((lb.exp() * (lb - lt)).sum(-1).clamp_min(0).sum())
        n += len(tokens)
    return {"tf_top1_agreement": top1 / n, "tf_kl_mean": kl / n, "tf_requests": float(len(todo))}


def topk_kl(base_lp: dict[int, float], treat_lp: dict[int, float]) -> float:
    """KL(baseline || treatment) in nats over the union of the listed ids (module docstring)."""
    ids = sorted(set(base_lp) | set(treat_lp))

    def probs(lp: dict[int, float]) -> np.ndarray:
        floor = min(lp.values())
        p = np.exp(np.array([lp.get(i, floor) for i in ids], dtype=np.float64))
        return p / p.sum()

    p, q = probs(base_lp), probs(treat_lp)
    return max(0.0, float(np.sum(p * (np.log(p) - np.log(q)))))


def forced_metrics(base_lps: list[list[dict[int, float]]], treat_lps: list[list[dict[int, float]]],
                   forced: list[tuple[int, ...]]) -> dict[str, float]:
    """tf_* metrics from per-position logprob dicts of both arms on the baseline's tokens."""
    top1 = kl = n = 0.0
    for lb_req, lt_req, tokens in zip(base_lps, treat_lps, forced):
        for lb, lt, tok in zip(lb_req, lt_req, tokens):
            top1 += max(lt, key=lt.get) == tok
            kl += topk_kl(lb, lt)
            n += 1
    if not n:
        return {}
    return {"tf_top1_agreement": top1 / n, "tf_kl_mean": kl / n, "tf_requests": float(len(forced))}


async def teacher_forced_live(base_engine, treat_engine, base: list[Sample],
                              prompts: dict[str, tuple[int, ...]]) -> dict[str, float]:
    """Top-1 agreement and top-K mean KL of the treatment engine on the baseline's tokens, from
    two started backends' prompt_logprobs (vLLM, or any backend with teacher_forced == "live")."""
    import asyncio

    todo = [s for s in base if s.ok and s.output_token_ids and s.request_id in prompts][:MAX_TF_REQUESTS]

    async def forced(engine, s: Sample) -> list[dict[int, float]]:
        prompt = prompts[s.request_id]
        lps = await engine.prompt_logprobs([*prompt, *s.output_token_ids], TF_TOP_K)
        return lps[len(prompt) - 1:]          # entry j predicts token j + 1

    base_lps = await asyncio.gather(*(forced(base_engine, s) for s in todo))
    treat_lps = await asyncio.gather(*(forced(treat_engine, s) for s in todo))
    return forced_metrics(base_lps, treat_lps, [s.output_token_ids for s in todo])
