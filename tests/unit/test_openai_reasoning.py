"""The openai backend's reasoning stream parser, through the real client and driver against a raw
asyncio server playing canned chat streams: thought deltas under either field name servers use,
the think marker's empty delta, the answer; TTFT is the first token of either kind and TTFA the
first answer token; a malformed reasoning field and a usage count that disagrees with the stream
become error samples with their reason, never exceptions."""
from __future__ import annotations

import asyncio
import json

import pytest

from bench.backends.openai_http import OpenAIBackend
from bench.run.driver import measure, now_ns
from bench.types import Request

THOUGHT, ANSWER = 4, 2


def events(field: str = "reasoning", usage_reasoning=THOUGHT, bad=None) -> list[dict]:
    """A vLLM-like chat stream with return_token_ids: one token per chunk."""
    out = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]   # no token yet
    for i in range(THOUGHT):
        value = bad if (bad is not None and i == 1) else f" th{i}"
        out.append({"choices": [{"index": 0, "delta": {field: value}, "token_ids": [100 + i]}]})
    out.append({"choices": [{"index": 0, "delta": {}, "token_ids": [2049]}]})              # </think>
    for i in range(ANSWER):
        out.append({"choices": [{"index": 0, "delta": {"content": f" a{i}"}, "token_ids": [200 + i]}]})
    n = THOUGHT + 1 + ANSWER
    out.append({"choices": [], "usage": {"prompt_tokens": 6, "completion_tokens": n,
                                         "completion_tokens_details": {"reasoning_tokens": usage_reasoning}}})
    return out


class CannedServer:
    def __init__(self, stream: list[dict]):
        self.stream = stream

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next(ln.split(b":")[1] for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length")))
        self.body = json.loads(await reader.readexactly(length))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
        for e in self.stream:
            writer.write(b"data: " + json.dumps(e).encode() + b"\n\n")
            await writer.drain()
            await asyncio.sleep(0.002)          # apart in time: TTFT and TTFA differ
        writer.write(b"data: [DONE]\n\n")
        await writer.drain()
        writer.close()


def run_stream(tiny_path, stream: list[dict], **options):
    async def go():
        server = CannedServer(stream)
        srv = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        backend = OpenAIBackend(tiny_path, {"base_url": f"http://127.0.0.1:{port}/v1", "endpoint": "chat",
                                            "metrics_url": None, **options})
        await backend.start()
        req = Request("r0", (5, 6, 7, 8, 9, 2048), THOUGHT + 1 + ANSWER, thinking_tokens=THOUGHT, answer_tokens=ANSWER)
        try:
            return await measure(backend, req, now_ns()), server.body
        finally:
            await backend.stop()
            srv.close()
    return asyncio.run(go())


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
def test_thought_and_answer_counted_under_either_field_name(tiny_path, field):
    s, body = run_stream(tiny_path, events(field))
    assert s.ok, s.error
    assert (s.reasoning_tokens, s.answer_tokens, s.output_tokens) == (THOUGHT, ANSWER, THOUGHT + 1 + ANSWER)
    assert s.first_answer_ns == s.token_ns[THOUGHT + 1] > s.token_ns[0]          # TTFA after TTFT
    # the request asked vLLM to force the thought length and banned the model's own markers
    assert body["thinking_token_budget"] == THOUGHT and set(body["logit_bias"]) == {"2048", "2049"}


def test_malformed_reasoning_field_is_an_error_sample(tiny_path):
    s, _ = run_stream(tiny_path, events(bad={"text": "x"}))
    assert s.error.startswith("bad_reasoning: malformed reasoning field 'reasoning'")


def test_usage_that_disagrees_with_the_stream_is_an_error_sample(tiny_path):
    s, _ = run_stream(tiny_path, events(usage_reasoning=THOUGHT + 1))
    assert s.error.startswith("reasoning_usage_mismatch: the stream carried 4 reasoning tokens, usage says 5")
    s, _ = run_stream(tiny_path, events(usage_reasoning="four"))
    assert s.error.startswith("bad_usage")
    s, _ = run_stream(tiny_path, events(usage_reasoning=THOUGHT + 1), check_reasoning_usage=False)
    assert s.ok                                      # a server known to count otherwise


def test_a_stream_that_thought_less_than_forced_is_a_thinking_mismatch(tiny_path):
    stream = events(usage_reasoning=THOUGHT - 1)
    del stream[2]                                    # one thought chunk fewer (and one token short)
    stream.insert(-1, {"choices": [{"index": 0, "delta": {"content": " a9"}, "token_ids": [209]}]})
    s, _ = run_stream(tiny_path, stream)
    assert s.error.startswith("thinking_mismatch: 3 thought tokens of 4 forced, 3 answer tokens of 2")


def test_without_token_ids_the_delta_fields_split_the_stream(tiny_path):
    """A server that returns no ids (counts from the per-chunk usage): thoughts are the chunks
    with reasoning text, the answer those with content, the empty one the marker."""
    stream, seen = [], 0
    for e in events("reasoning_content"):
        choices = e["choices"]
        if choices and "token_ids" in choices[0]:
            seen += len(choices[0].pop("token_ids"))
            e["usage"] = {"completion_tokens": seen}
        stream.append(e)
    s, _ = run_stream(tiny_path, stream)
    assert s.ok, s.error
    assert (s.reasoning_tokens, s.answer_tokens, s.output_tokens) == (THOUGHT, ANSWER, THOUGHT + 1 + ANSWER)


def test_a_plain_chat_stream_is_not_split(tiny_path):
    """No thought in the stream and none asked for: the sample carries no reasoning fields, so a
    non-reasoning run's summary keeps its keys, and usage's count of hidden thoughts is no error."""
    stream = [{"choices": [{"index": 0, "delta": {"content": f" a{i}"}, "token_ids": [200 + i]}]} for i in range(3)]
    # an API that hides its thoughts still bills them: nothing in the stream to check them against
    stream.append({"choices": [], "usage": {"prompt_tokens": 6, "completion_tokens": 3,
                                            "completion_tokens_details": {"reasoning_tokens": 250}}})

    async def go():
        server = CannedServer(stream)
        srv = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        backend = OpenAIBackend(tiny_path, {"base_url": f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}/v1",
                                            "endpoint": "chat", "metrics_url": None})
        await backend.start()
        try:
            return await measure(backend, Request("p", (5, 6, 7), 3), now_ns())
        finally:
            await backend.stop()
            srv.close()
    s = asyncio.run(go())
    assert s.ok and s.output_tokens == 3
    assert (s.reasoning_tokens, s.answer_tokens, s.first_answer_ns) == (None, None, None)
