"""Readers of recorded traffic: call logs (OpenTelemetry GenAI spans, OpenAI request/response
JSONL), request traces (Mooncake, Azure) and recorded agent sessions.

The layer below both the workloads that replay these records and the profile that summarizes
them: it imports only `bench.errors`, `bench.types` and libraries, never the workloads, the
profile, the run path or the analysis. Every JSONL file is read through `jsonl.rows`.
"""
