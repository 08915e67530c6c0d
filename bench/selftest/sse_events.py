"""The SSE events an OpenAI-compatible /v1/completions stream is made of, encoded once.

Shared by the stub server and the fault tests' servers, so both stream what vLLM streams: one
token per chunk (with `token_ids`, as vLLM's `return_token_ids` gives them), then a usage chunk,
then `[DONE]`.
"""
from __future__ import annotations

import json

DONE = b"data: [DONE]\n\n"


def sse(event: dict) -> bytes:
    return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"


def token_event(token_id: int) -> bytes:
    return sse({"object": "text_completion", "choices": [{"index": 0, "text": "x",
                                                            "token_ids": [token_id]}]})


# Encoded once: the stub must cost far less per chunk than the client it measures.
TOKEN_EVENTS = [token_event(i) for i in range(1000)]


def usage_event(prompt_tokens: int, completion_tokens: int) -> bytes:
    return sse({"object": "text_completion", "choices": [],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}})


def completion_events(n: int, prompt_tokens: int) -> list[bytes]:
    """A whole stream of `n` one-token chunks, as a list of events (the last one ends it)."""
    return [TOKEN_EVENTS[i % 1000] for i in range(n)] + [usage_event(prompt_tokens, n) + DONE]
