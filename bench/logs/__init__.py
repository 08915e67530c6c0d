"""Readers of recorded traffic: call logs (OpenTelemetry GenAI spans, OpenAI request/response
JSONL), request traces (Mooncake, Azure) and recorded agent sessions.

The layer below both the workloads that replay these records and `bench profile`, which profiles
them: it imports only `bench.errors`, `bench.types` and libraries, never a workload, the profile,
the run path or the analysis. Every JSONL file is read through `jsonl.rows`.
"""
