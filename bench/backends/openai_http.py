"""Any OpenAI-compatible server over HTTP: /v1/completions or /v1/chat/completions, streamed SSE.

Token counts per chunk, in order of preference: the token ids the server returns (vLLM's
`return_token_ids`), the growth of the per-chunk usage (vLLM's `continuous_usage_stats`), else
the model's tokenizer on the chunk's text (approximate: a chunk's text need not re-tokenize to
the tokens that made it). The final usage (`stream_options.include_usage`) gives the prompt and
cached token counts. The API key is read from the environment variable the options name, and
is never stored.

Reasoning (chat): a chunk's thought and answer tokens are told apart by its token ids and the
model's think markers where the server returns ids, else by the delta's fields (`reasoning_content`
or `reasoning` against `content`); the thought count is checked against usage's
`completion_tokens_details.reasoning_tokens` (docs/reasoning.md).
"""
from __future__ import annotations

import os
from typing import Any, Literal
from collections.abc import AsyncIterator

import msgspec
from pydantic import Field

from bench.backends.base import Backend, BackendError, BackendOptions, Chunk
from bench.backends.http_stream import HTTPStreamError, StreamClient
from bench.backends.think_split import ThinkSplit
from bench.telemetry.prometheus import metrics_url, parse_text
from bench.types import Request


class OpenAIOptions(BackendOptions):
    base_url: str = Field(default="http://127.0.0.1:8000/v1", pattern="^https?://")
    endpoint: Literal["completions", "chat"] = "completions"
    prompt: Literal["token_ids", "text"] = "token_ids"   # completions: exact ids, or decoded text
    served_model: str | None = None          # the `model` field sent; default: the run's model path
    api_key_env: str | None = Field(default=None, min_length=1)  # NAME of the variable holding the key
    connect_timeout_s: float = Field(default=10.0, gt=0)
    read_timeout_s: float = Field(default=600.0, gt=0)
    max_connections: int = Field(default=1024, ge=1)
    vllm_extras: bool = True                 # ignore_eos, min_tokens, return_token_ids, continuous usage
    # Prometheus /metrics; auto: /metrics at the root of base_url's server (its path dropped)
    metrics_url: str | None = Field(default="auto", pattern="^(auto|https?://.*)$")
    tokenizer: str | None = None             # for decoding prompts and counting text; default: model
    extra_body: dict[str, Any] = Field(default_factory=dict)   # merged into every request body
    # Reasoning (chat): the stream's thought count must equal usage's
    # completion_tokens_details.reasoning_tokens when the server reports it; a mismatch is a
    # sample error. Off only for a server known to count otherwise (see docs/reasoning.md).
    check_reasoning_usage: bool = True


# msgspec rather than json: it decodes a streamed event in about a fifth of the time, and
# every streamed chunk pays for one decode (profiled: json was the client's largest cost).
_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


# What a failed exchange says, by the transport's reason code (the sample's error starts with it).
_MESSAGES = {
    "connect_refused": "cannot connect to {url} ({exc}): is the server running?",
    "connect_timeout": "timeout talking to {url}: connect_timeout ({exc})",
    "read_timeout": "timeout talking to {url}: read_timeout ({exc})",
    "disconnected": "connection to {url} lost mid-stream: {exc}",
    "http_error": "HTTP error from {url}: {exc}",
}


def _event(data: bytes) -> dict[str, Any]:
    """One SSE `data:` payload; anything but a JSON object is the server's fault, not ours."""
    try:
        event = _decode(data)
    except msgspec.DecodeError as exc:
        raise BackendError(f"malformed SSE event ({exc}): {data[:80].decode(errors='replace')!r}", "bad_sse") from None
    if not isinstance(event, dict):
        head = data[:80].decode(errors="replace")
        raise BackendError(f"malformed SSE event (not a JSON object): {head!r}", "bad_sse")
    return event


# Where servers put a delta's thoughts: vLLM before 0.11, SGLang, llama.cpp and DeepSeek's API
# say reasoning_content; vLLM since 0.11 and OpenRouter say reasoning.
REASONING_FIELDS = ("reasoning_content", "reasoning")


def _reasoning_text(delta: dict[str, Any]) -> str:
    """A delta's thought text ('' when it has none); anything but a string or null is malformed."""
    out = ""
    for key in REASONING_FIELDS:
        value = delta.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise BackendError(f"malformed reasoning field {key!r} in stream: {str(value)[:80]!r} "
                               "(expected a string)", "bad_reasoning")
        out = out or value
    return out


class _Stream:
    """What one response has streamed so far: completion tokens counted, of them thoughts; the
    split by token ids where the server returns them and the model's think markers are known."""
    __slots__ = ("seen", "thought", "split", "reasoning")

    def __init__(self, split: ThinkSplit | None = None, reasoning: bool = False):
        self.seen = self.thought = 0
        self.split = split
        # A reasoning stream: the request thinks, or a delta carried thoughts. Only such a stream
        # reports its split (a plain chat stream's samples stay as they were).
        self.reasoning = reasoning


class OpenAIBackend(Backend):
    name = "openai"
    Options = OpenAIOptions
    uses_server = True             # a run may start a managed server for it (`server:`)
    multiprocess_safe = True   # every copy is only a client of the same server
    reasoning = True           # reasoning deltas parsed; the length forced by a vLLM server's budget

    @classmethod
    def reasoning_problem(cls, options: dict[str, Any]) -> str | None:
        if options.get("endpoint", "completions") != "chat":
            return ("backend.options.endpoint: a reasoning workload (thinking_tokens) needs chat: servers "
                    "split thoughts from the answer only on /v1/chat/completions")
        return None

    async def start(self) -> None:
        from urllib.parse import urlsplit

        o = self.options
        self._headers = {"Content-Type": "application/json"}
        if o.api_key_env:
            key = os.environ.get(o.api_key_env)
            if not key:
                raise BackendError(f"environment variable {o.api_key_env} (backend.options.api_key_env) is not set")
            self._headers["Authorization"] = f"Bearer {key}"
        # bench.backends.http_stream rather than aiohttp (or httpx): it says why; in short,
        # aiohttp's machinery was most of the client's CPU per request.
        self.client = StreamClient(o.base_url, o.connect_timeout_s, o.read_timeout_s, o.max_connections)
        u = urlsplit(o.base_url)
        self._base = u.path.rstrip("/") + "/"
        self.served = o.served_model or self.model
        self._tokenizer = None
        self.metrics_url = metrics_url(o.base_url) if o.metrics_url == "auto" else o.metrics_url

    def tokenizer(self):
        if self._tokenizer is None:
            from transformers import AutoTokenizer
            self._tokenizer = AutoTokenizer.from_pretrained(self.options.tokenizer or self.model)
        return self._tokenizer

    def _splitter(self, request: Request) -> ThinkSplit | None:
        """Chat with a reasoning model: the stream's token ids split by the think markers (exact,
        whatever text the server's detokenizer holds back: a token can arrive with an empty delta)."""
        if self.options.endpoint != "chat" or not self.options.vllm_extras:
            return None
        ids = self._think_ids()
        return ThinkSplit(*ids, request.prompt_token_ids) if ids else None

    def _think_ids(self) -> tuple[int, ...]:
        """The model's single-token think markers, () without them (looked up once)."""
        if getattr(self, "_think", None) is None:
            from bench.backends.think_split import single_ids
            from bench.workloads.thinking import THINK_END, THINK_START
            self._think = single_ids(self.tokenizer(), (THINK_START, THINK_END)) or ()
        return self._think

    def _body(self, request: Request) -> tuple[str, dict[str, Any]]:
        o = self.options
        n = request.max_output_tokens
        body: dict[str, Any] = {"model": self.served, "max_tokens": n, "temperature": 0.0, "stream": True,
                                "stream_options": {"include_usage": True}}
        if o.endpoint == "chat":
            text = self.tokenizer().decode(list(request.prompt_token_ids))
            path, body["messages"] = "chat/completions", [{"role": "user", "content": text}]
        else:
            path = "completions"
            body["prompt"] = (list(request.prompt_token_ids) if o.prompt == "token_ids"
                              else self.tokenizer().decode(list(request.prompt_token_ids)))
        if o.vllm_extras:
            body["return_token_ids"] = True
            body["stream_options"]["continuous_usage_stats"] = True
            if request.ignore_eos:
                body |= {"ignore_eos": True, "min_tokens": n}
            if request.thinking_tokens is not None:
                # vLLM forces </think> after the budget; the bias keeps the model from opening or
                # closing a thought itself (bench.backends.vllm_engine does the same in process).
                body["thinking_token_budget"] = request.thinking_tokens
                body["logit_bias"] = {str(i): -100 for i in self._think_ids()}
        return path, body | o.extra_body

    async def stream(self, request: Request) -> AsyncIterator[Chunk]:
        path, body = self._body(request)
        url = self.options.base_url
        try:
            async with self.client.request("POST", self._base + path, _encode(body), self._headers) as resp:
                if resp.status != 200:
                    text = (await resp.read_all()).decode(errors="replace")[:300]
                    raise BackendError(f"HTTP {resp.status} from {url.rstrip('/')}/{path}: {text}",
                                       f"http_{resp.status}")
                st, rest = _Stream(self._splitter(request), request.thinking_tokens is not None), b""
                # One await per read from the socket, not per line: the lines that arrived
                # together are split here (SSE lines end in \n or \r\n: strip() drops the \r;
                # events are the `data:` lines; other fields and comments are skipped).
                while data := await resp.read():
                    lines = (rest + data).split(b"\n")
                    rest = lines.pop()
                    for raw in lines:
                        if not raw.startswith(b"data:"):
                            continue
                        payload = raw[5:].strip()
                        if payload == b"[DONE]":
                            return
                        chunk = self._chunk(_event(payload), st)
                        if chunk is not None:
                            yield chunk
            raise BackendError(f"stream from {url} ended without [DONE]", "stream_cut")
        except HTTPStreamError as exc:
            raise BackendError(_MESSAGES[exc.reason].format(url=url, exc=exc), exc.reason) from None

    def _chunk(self, event: dict[str, Any], st: _Stream) -> Chunk | None:
        """One SSE event -> a Chunk (or None); `st` counts the response's tokens so far."""
        if "error" in event:
            raise BackendError(f"server error in stream: {str(event['error'])[:300]}", "server_error")
        usage = event.get("usage") or {}
        choices = event.get("choices") or []
        ids: tuple[int, ...] = ()
        count = 0
        thought, answer = 0, None
        if choices:
            c = choices[0]
            delta = (c.get("delta") or {}) if "text" not in c else None   # chat, else completions
            if delta is not None and not isinstance(delta, dict):
                raise BackendError(f"malformed SSE event (delta is not an object): {str(delta)[:80]!r}", "bad_sse")
            text = (c.get("text") if delta is None else delta.get("content")) or ""
            if c.get("token_ids") is not None:
                ids = tuple(c["token_ids"])
                count = len(ids)
            elif usage.get("completion_tokens") is not None:
                count = usage["completion_tokens"] - st.seen
            elif text:
                count = len(self.tokenizer().encode(text, add_special_tokens=False))
            if delta is not None:      # chat: thoughts and answer apart
                thought_text = _reasoning_text(delta)
                thought, answer = st.split.feed(ids) if (ids and st.split) else \
                    self._split(count, thought_text, text)
                st.reasoning = st.reasoning or bool(thought_text)
                if not st.reasoning:
                    thought, answer = 0, None
        st.seen += count
        st.thought += thought
        details = usage.get("prompt_tokens_details") or {}
        final = bool(usage) and not choices
        if final and st.reasoning:      # a stream that shows no thought (a plain model, or an API
            self._check_reasoning(usage, st)   # that hides them) has no count of its own to check
        if not count and not final:
            return None
        return Chunk(token_ids=ids, n_tokens=None if ids else count,
                     prompt_tokens=usage.get("prompt_tokens") if final else None,
                     cached_prompt_tokens=details.get("cached_tokens") if final else None,
                     reasoning_tokens=thought, answer_tokens=answer)

    def _split(self, count: int, thought_text: str, answer_text: str) -> tuple[int, int]:
        """(thought, answer) tokens of a chat chunk of `count` tokens, without ids (or markers) to
        split by: by the delta's fields. A chunk with text of one kind is all that kind; one with
        neither is a think marker (servers send the marker's token with an empty delta); one with
        both (the turn from thought to answer inside one chunk) is split by tokenizing its two
        texts. The usage check catches what this misses."""
        if thought_text and not answer_text:
            return count, 0
        if answer_text and not thought_text:
            return 0, count
        if not thought_text:
            return 0, 0
        tok = self.tokenizer()
        thought = min(count, len(tok.encode(thought_text, add_special_tokens=False)))
        return thought, min(count - thought, len(tok.encode(answer_text, add_special_tokens=False)))

    def _check_reasoning(self, usage: dict[str, Any], st: _Stream) -> None:
        """The stream's thought count against the server's own (usage.completion_tokens_details)."""
        details = usage.get("completion_tokens_details")
        if details is None or not self.options.check_reasoning_usage:
            return
        told = details.get("reasoning_tokens") if isinstance(details, dict) else details
        if told is None:
            return
        if not isinstance(told, int) or isinstance(told, bool) or told < 0:
            raise BackendError(f"malformed usage.completion_tokens_details: {str(details)[:120]}", "bad_usage")
        if told != st.thought:
            raise BackendError(f"the stream carried {st.thought} reasoning tokens, usage says {told} "
                               "(completion_tokens_details.reasoning_tokens)", "reasoning_usage_mismatch")

    async def server_stats(self) -> dict[str, float] | None:
        """Server counters from Prometheus /metrics, or None when the server has none."""
        if not self.metrics_url or getattr(self, "client", None) is None:
            return None
        from urllib.parse import urlsplit

        u = urlsplit(self.metrics_url)
        target = u.path + (f"?{u.query}" if u.query else "")
        try:
            client = StreamClient(self.metrics_url, self.options.connect_timeout_s, 30.0, 1)
            try:
                async with client.request("GET", target or "/", b"", self._headers) as resp:
                    if resp.status != 200:
                        return None
                    return parse_text((await resp.read_all()).decode(errors="replace"))
            finally:
                await client.close()
        except Exception:
            return None

    async def stop(self) -> None:
        if getattr(self, "client", None) is not None:
            await self.client.close()
            self.client = None

    def info(self) -> dict[str, Any]:
        o = self.options
        return {"backend": self.name, "base_url": o.base_url, "endpoint": o.endpoint,
                "served_model": getattr(self, "served", None), "vllm_extras": o.vllm_extras}
