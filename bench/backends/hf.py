"""Hugging Face transformers in process, streaming each generated token.

Batching: a worker thread takes the requests waiting when it becomes free (up to
`max_batch_size`, after waiting `batch_wait_ms` for stragglers), left-pads them into one static
batch and runs `generate` on it. Each request streams until its own `max_output_tokens`; the
batch runs until its longest member is done, and requests arriving meanwhile wait for the next
batch. This is the static batching of HF pipelines, not continuous batching.
"""
from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any, Literal
from collections.abc import AsyncIterator

from pydantic import Field

from bench.backends.base import Backend, BackendError, BackendOptions, Chunk
from bench.backends.hf_batch import DONE, Job, BatchStreamer, eos_ids, force_thinking, no_eos
from bench.backends.think_split import ThinkSplit, single_ids
from bench.types import Request

class HFOptions(BackendOptions):
    # auto: cuda when present, else cpu
    device: str = Field(default="auto", pattern=r"^(auto|cpu|mps|(cuda|xpu)(:\d+)?)$")
    # auto: bfloat16 on cuda, float32 on cpu
    dtype: Literal["auto", "float32", "float16", "bfloat16", "float64", "float", "half"] = "auto"
    max_batch_size: int = Field(default=8, ge=1)
    batch_wait_ms: float = Field(default=2.0, ge=0)
    assistant_model: str | None = None        # draft model (path or 'tiny-draft') for assisted generation
    # Set on the draft's generation_config, where transformers reads them (not generate kwargs):
    # e.g. {num_assistant_tokens: 3, num_assistant_tokens_schedule: constant,
    #       assistant_confidence_threshold: 0} for a fixed draft length.
    assistant_generation: dict[str, Any] = Field(default_factory=dict)
    model_kwargs: dict[str, Any] = Field(default_factory=dict)     # from_pretrained(**), e.g. attn_implementation
    generate_kwargs: dict[str, Any] = Field(default_factory=dict)  # generate(**), e.g. cache_implementation
    # torch.compile of the decode step, through transformers' own generate-time compilation:
    # None = its default (compiles when the cache is static and the device a GPU); True = always,
    # with a static cache unless generate_kwargs names another compilable one; False = never.
    compile: bool | None = None
    compile_mode: Literal["default", "reduce-overhead", "max-autotune",                # torch.compile modes
                          "max-autotune-no-cudagraphs"] = "reduce-overhead"
    # torch.set_num_threads for the process (None: torch's default, one per core). On a CPU that
    # other processes also use, 1 avoids OpenMP barrier stalls (a tiny model ran 3-10x slower with
    # 2 threads while one other process kept a core busy).
    torch_threads: int | None = Field(default=None, ge=1)


class HFBackend(Backend):
    name = "hf"
    Options = HFOptions
    version_dists = ("transformers",)
    teacher_forced = "offline"     # in process after the runs, through generate (the arm's cache)
    reasoning = True               # the think-end marker forced in generate (hf_batch.force_thinking)

    @classmethod
    def preflight(cls, options: dict[str, Any], machine, model_cfg: dict[str, Any]):
        from bench.backends.machine import Problem, Replacement

        for module, dist in (("torch", "torch"), ("transformers", "transformers")):
            if not machine.has_package(module):
                return Problem(f"{dist} is not installed")
        device = str(options.get("device") or "auto")
        if device.startswith("cuda") and not machine.cuda:
            return Problem(f"device {device}: no CUDA device here")
        gen = options.get("generate_kwargs") or {}
        cache = gen.get("cache_implementation")
        if cache == "offloaded" and not machine.cuda:
            return Problem("cache_implementation offloaded needs CUDA; none here")
        backend = (gen.get("cache_config") or {}).get("backend") if isinstance(gen.get("cache_config"), dict) else None
        if cache == "quantized" and backend == "quanto" and not machine.has_package("optimum.quanto"):
            return Problem("the quanto quantized cache needs optimum-quanto, not installed")
        attn = (options.get("model_kwargs") or {}).get("attn_implementation")
        if attn == "flash_attention_2" and not (machine.cuda and machine.has_package("flash_attn")):
            # the same attention, computed by torch's own kernel: an equivalent, not another treatment
            why = "no CUDA here" if not machine.cuda else "flash-attn is not installed"
            return Replacement({"model_kwargs": {"attn_implementation": "sdpa"}},
                               f"attn_implementation flash_attention_2 -> sdpa (the same attention; {why})")
        return None

    async def start(self) -> None:
        await asyncio.to_thread(self._load)
        self._jobs: queue.Queue = queue.Queue()
        self._stopping = threading.Event()  # ends the batch in flight at its next step
        self.batch_sizes: list[int] = []     # observability: the batches really formed
        self._thread = threading.Thread(target=self._worker, name="hf-generate", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from bench.models import presets, resolve_model

        o = self.options
        if o.torch_threads:
            torch.set_num_threads(o.torch_threads)
        self.device = o.device if o.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = o.dtype if o.dtype != "auto" else ("bfloat16" if self.device == "cuda" else "float32")
        kwargs = {"dtype": getattr(torch, dtype), **o.model_kwargs}
        transformers.utils.logging.disable_progress_bar()
        if presets.is_dummy(self.model):      # a preset: real shape, random weights, built on the device
            self.model = presets.load_dummy_hf(self.model, kwargs["dtype"], self.device, o.model_kwargs, self.seed)
        else:
            self.model = AutoModelForCausalLM.from_pretrained(self.model, **kwargs)
        if "device_map" not in o.model_kwargs:
            self.model.to(self.device)
        self.model.eval()
        self.tokenizer = AutoTokenizer.from_pretrained(self.model.name_or_path)
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.tokenizer.eos_token_id or 0
        self.eos_id = self.tokenizer.eos_token_id
        self.eos_ids = eos_ids(self.eos_id, self.model.generation_config.eos_token_id)
        from bench.workloads.thinking import THINK_END, THINK_START
        self.think = single_ids(self.tokenizer, (THINK_START, THINK_END))  # None: not a reasoning model
        self.assistant = None
        if o.assistant_model:
            path = resolve_model(o.assistant_model)
            self.assistant = AutoModelForCausalLM.from_pretrained(path, **kwargs).to(self.device).eval()
            for key, value in o.assistant_generation.items():
                setattr(self.assistant.generation_config, key, value)
        # Assisted and prompt-lookup generation in transformers support batch size 1 only.
        single = self.assistant is not None or "prompt_lookup_num_tokens" in o.generate_kwargs
        self.max_batch = 1 if single else o.max_batch_size

    def _worker(self) -> None:
        while True:
            first = self._jobs.get()
            if first is None:
                return
            batch = [first]
            wait_s = self.options.batch_wait_ms / 1000
            while len(batch) < self.max_batch:
                try:
                    job = self._jobs.get(timeout=wait_s) if wait_s else self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    self._jobs.put(None)
                    break
                batch.append(job)
            self._generate(batch)

    def _generate(self, jobs: list[Job]) -> None:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

        stopping = self._stopping

        class _AllDone(StoppingCriteria):
            def __call__(self, input_ids, scores, **kw):
                done = stopping.is_set() or all(j.done for j in jobs)
                return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

        self.batch_sizes.append(len(jobs))

        try:
            width = max(len(j.request.prompt_token_ids) for j in jobs)
            ids = [[self.pad_id] * (width - len(j.request.prompt_token_ids))
                   + list(j.request.prompt_token_ids) for j in jobs]
            mask = [[0] * (width - len(j.request.prompt_token_ids))
                    + [1] * len(j.request.prompt_token_ids) for j in jobs]
            for j in jobs:
                j.eos = self.eos_id
                if j.request.thinking_tokens is not None:   # only a request that thinks is split
                    if self.think is None:
                        raise BackendError("a thinking request needs a model whose tokenizer has <think> and "
                                           "</think> as single tokens", "no_reasoning")
                    j.split = ThinkSplit(*self.think, j.request.prompt_token_ids)
            # Options GenerationConfig knows go into it; the rest (e.g. tokenizer) go to generate().
            known = GenerationConfig()
            cfg_kw = {k: v for k, v in self.options.generate_kwargs.items() if hasattr(known, k)}
            cfg_kw |= self._compile_kwargs(cfg_kw)
            gen = {k: v for k, v in self.options.generate_kwargs.items() if k not in cfg_kw}
            # generate() fills eos_token_id=None back in from the model's generation_config (a
            # None is "unset" to it), so EOS would still end a row and pad it after. Rows with a
            # forced length (ignore_eos) therefore never sample an EOS id (_NoEOS); rows that
            # honour EOS stop in the streamer, and the batch stops when every row is done.
            config = GenerationConfig(**{"do_sample": False, **cfg_kw},
                                      max_new_tokens=max(j.request.max_output_tokens for j in jobs),
                                      eos_token_id=None, pad_token_id=self.pad_id)
            streamer = BatchStreamer(jobs)
            with torch.inference_mode():
                self.model.generate(
                    input_ids=torch.tensor(ids, device=self.device),
                    attention_mask=torch.tensor(mask, device=self.device),
                    generation_config=config, streamer=streamer,
                    stopping_criteria=StoppingCriteriaList([_AllDone()]),
                    logits_processor=LogitsProcessorList([no_eos(jobs, self.eos_ids)] + (
                        [force_thinking(jobs, width, self.think)] if self.think else [])),
                    assistant_model=self.assistant, **gen)
            streamer.end()
        except Exception as exc:  # one failed batch must not kill the worker
            for j in jobs:
                if not j.done:
                    j.done = True
                    j.emit(BackendError(f"{type(exc).__name__}: {exc}"))

    def _compile_kwargs(self, cfg_kw: dict[str, Any]) -> dict[str, Any]:
        from transformers import CompileConfig

        if self.options.compile is None:
            return {}
        if not self.options.compile:
            return {"disable_compile": True}
        compile_config = CompileConfig(mode=self.options.compile_mode)
        compile_config._compile_all_devices = True   # also on the CPU (tests), not only CUDA
        return {"cache_implementation": cfg_kw.get("cache_implementation", "static"),
                "compile_config": compile_config}

    async def stream(self, request: Request) -> AsyncIterator[Chunk]:
        loop = asyncio.get_running_loop()
        out: asyncio.Queue = asyncio.Queue()

        def emit(item) -> None:
            try:
                loop.call_soon_threadsafe(out.put_nowait, item)
            except RuntimeError:  # the loop closed (run interrupted): nobody is listening
                pass
        self._jobs.put(Job(request, emit))
        while True:
            item = await out.get()
            if item is DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    async def stop(self) -> None:
        if getattr(self, "_thread", None) is not None:
            self._stopping.set()
            self._jobs.put(None)
            await asyncio.to_thread(self._thread.join, 30)

    @classmethod
    def weight_dtype(cls, model_cfg: dict[str, Any], options: dict[str, Any]) -> str | None:
        if options.get("dtype") in (None, "auto") and options.get("device") != "cuda":
            return "float32"                   # what 'auto' loads on the CPU (HFOptions.dtype)
        return super().weight_dtype(model_cfg, options)

    @classmethod
    def kv_element_bytes(cls, model_cfg: dict[str, Any], options: dict[str, Any]) -> float | None:
        gen = options.get("generate_kwargs") or {}
        if gen.get("cache_implementation") == "quantized":
            return float((gen.get("cache_config") or {}).get("nbits", 4)) / 8
        return super().kv_element_bytes(model_cfg, options)

    @classmethod
    def is_speculative(cls, options: dict[str, Any]) -> bool:
        return bool(options.get("assistant_model")) or \
            "prompt_lookup_num_tokens" in (options.get("generate_kwargs") or {})

    @classmethod
    def spec_metrics(cls, options: dict[str, Any], engine: dict[str, float], samples: list) -> dict[str, float]:
        # generate exposes no counters; with batch size 1 each streamed chunk is one verification step
        from bench.metrics import speculative

        return speculative.from_chunks(samples, speculative.fixed_draft_len(options))

    @classmethod
    def teacher_forced_offline(cls, model_path: str, base_options: dict[str, Any],
                               treat_options: dict[str, Any], base_samples: list,
                               prompts: dict[str, tuple[int, ...]]) -> dict[str, float]:
        from bench.metrics import fidelity

        return fidelity.teacher_forced_hf(model_path, base_options, treat_options, base_samples, prompts)

    def info(self) -> dict[str, Any]:
        import transformers
        return {"backend": self.name, "transformers": transformers.__version__,
                "device": getattr(self, "device", None), "max_batch_size": getattr(self, "max_batch", None),
                "dtype": str(getattr(getattr(self, "model", None), "dtype", None)),
                "attn_implementation": getattr(getattr(getattr(self, "model", None), "config", None),
                                               "_attn_implementation", None)}
