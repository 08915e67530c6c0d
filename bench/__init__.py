"""bench: an inference benchmarking harness for LLM serving (chat, RAG, agents)."""

__version__ = "0.1.0"
