"""RAG: a shared system prompt, k retrieved chunks, then a short question; a short answer.

The corpus is generated documents cut into fixed-size chunks. Chunk popularity is Zipf(s)
over a seeded random ranking, so a few chunks serve most queries and prefix caching has
something to find; `chunk_order` says how the k chunks are laid out in the prompt.
"""
from __future__ import annotations

import functools
from typing import Literal

import numpy as np
from pydantic import Field

from bench.workloads.dists import Dist
from bench.types import Request, SingleRequest
from bench.workloads.base import Workload, WorkloadParams, session_rng
from bench.workloads.tokens import PromptFactory

# Chunk ids are drawn by popularity over the whole corpus (O(chunks) per query): past this the
# corpus is a typo, not a benchmark.
MAX_CHUNKS = 10_000_000


class RagParams(WorkloadParams):
    kind: Literal["rag"] = "rag"
    documents: int = Field(default=1000, ge=1, le=1_000_000)
    document_tokens: Dist                  # each document's length before chunking
    chunk_tokens: int = Field(default=512, ge=1)
    chunks_per_query: int = Field(default=10, ge=1)
    # At most 10: past it 1 / r^s underflows to 0 for most ranks and k distinct chunks cannot be drawn.
    zipf_s: float = Field(default=1.0, ge=0, le=10, description="popularity exponent; 0 = uniform")
    chunk_order: Literal["popularity", "retrieval", "corpus"] = "retrieval"
    system_tokens: int = Field(default=200, ge=0)
    question_tokens: Dist
    output_tokens: Dist

    def check_seeded(self, seed: int) -> None:
        n = len(chunk_lengths(self, seed))
        if self.chunks_per_query > n:
            raise ValueError(f"chunks_per_query: {self.chunks_per_query} is more than the {n} chunks "
                             f"the corpus has (documents x document_tokens / chunk_tokens)")


def chunk_lengths(p: RagParams, seed: int) -> list[int]:
    """The corpus: each document's drawn length cut into chunk_tokens-sized chunks. Drawn at load
    (check_seeded) and again by the workload, and once per run of a matrix: cached."""
    return list(_chunk_lengths(p.model_dump_json(), seed))


@functools.lru_cache(maxsize=16)
def _chunk_lengths(params_json: str, seed: int) -> tuple[int, ...]:
    p = RagParams.model_validate_json(params_json)
    rng = np.random.default_rng([seed, 11])
    size = max(1, int(round(p.chunk_tokens * p.scale)))
    lengths: list[int] = []
    for _ in range(p.documents):
        n = p.document_tokens.sample_int(rng, p.scale)
        lengths += [size] * (n // size) + ([n % size] if n % size else [])
        if len(lengths) > MAX_CHUNKS:
            raise ValueError(f"documents: the corpus has more than {MAX_CHUNKS} chunks "
                             "(fewer documents, shorter ones or longer chunk_tokens)")
    return tuple(lengths)


class RagWorkload(Workload):
    Params = RagParams
    unit = "query"

    def __init__(self, params: RagParams, tokenizer, seed: int):
        super().__init__(params, tokenizer, seed)
        self.prompts = PromptFactory(tokenizer, seed)
        self.system = self.prompts.keyed(("rag-system",), int(round(params.system_tokens * params.scale)))
        self.chunk_lengths = chunk_lengths(params, seed)
        n = len(self.chunk_lengths)
        # Popularity rank -> chunk id is a seeded permutation: popular chunks are not all
        # from the first document.
        self.by_rank = np.random.default_rng([seed, 12]).permutation(n)
        self.popularity = zipf_weights(n, params.zipf_s)

    # One workload object per run (and per load worker): the memo lives as long as the run.
    @functools.lru_cache(maxsize=4096)  # noqa: B019
    def chunk(self, chunk_id: int) -> tuple[int, ...]:
        return self.prompts.keyed(("chunk", chunk_id), self.chunk_lengths[chunk_id])

    def retrieve(self, rng: np.random.Generator) -> list[int]:
        """k distinct chunk ids, drawn by popularity, in the configured prompt order."""
        p = self.params
        ranks = rng.choice(len(self.by_rank), size=p.chunks_per_query, replace=False, p=self.popularity)
        if p.chunk_order == "popularity":
            ranks = np.sort(ranks)         # most popular first: the longest shareable prefix
        ids = [int(self.by_rank[r]) for r in ranks]
        return sorted(ids) if p.chunk_order == "corpus" else ids

    def session(self, index: int) -> SingleRequest:
        p = self.params
        rng = session_rng(self.seed, index)
        ids = self.retrieve(rng)
        question = self.prompts.tokens(rng, p.question_tokens.sample_int(rng, p.scale))
        prompt = self.system + tuple(t for c in ids for t in self.chunk(c)) + question
        req = Request(id=f"q{index}", prompt_token_ids=prompt,
                      max_output_tokens=p.output_tokens.sample_int(rng, p.scale),
                      meta={"chunks": ids})
        return SingleRequest(req)


def zipf_weights(n: int, s: float) -> np.ndarray:
    """P(rank r) proportional to 1 / r^s, r = 1..n."""
    w = 1.0 / np.arange(1, n + 1, dtype=float) ** s
    return w / w.sum()
