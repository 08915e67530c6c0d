"""Telling a stream's thought tokens from its answer tokens by the model's think markers.

For backends that see token ids (vLLM in process, HF). The split follows the markers the model
really produced, not what the request asked for, so the driver's check (bench.run.driver.
thinking_error) compares two independent counts.
"""
from __future__ import annotations

from collections.abc import Iterable


class ThinkSplit:
    """One request's stream: inside a thought from the prompt's open `<think>` (or one the model
    emits) until `</think>`; markers count as neither thought nor answer."""

    __slots__ = ("start", "end", "inside")

    def __init__(self, start_id: int, end_id: int, prompt: Iterable[int]):
        self.start, self.end, self.inside = start_id, end_id, False
        for t in prompt:
            if t == start_id:
                self.inside = True
            elif t == end_id:
                self.inside = False

    def feed(self, ids: Iterable[int]) -> tuple[int, int]:
        """(thought tokens, answer tokens) among `ids`, the stream's next tokens."""
        thought = answer = 0
        for t in ids:
            if t == self.start:
                self.inside = True
            elif t == self.end:
                self.inside = False
            elif self.inside:
                thought += 1
            else:
                answer += 1
        return thought, answer


def single_ids(tokenizer, texts: tuple[str, str]) -> tuple[int, int] | None:
    """The ids of single-token markers (`<think>`, `</think>`) in this tokenizer, else None."""
    ids = [tokenizer.encode(t, add_special_tokens=False) for t in texts]
    return (ids[0][0], ids[1][0]) if all(len(i) == 1 for i in ids) else None
