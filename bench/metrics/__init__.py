"""The metric table (definitions) and pure functions over samples: core request metrics, tasks,
speculative decoding, KV cache, fidelity, inflation, roofline."""
