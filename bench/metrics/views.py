"""Which summary keys each table and comparison shows, in its order. Only the choice lives here:
what a key means, its title, number format and direction come from the metric table
(bench.metrics.definitions)."""
from __future__ import annotations

# What a comparison of two sets of runs judges at once (a simultaneous 95% over these and the
# metrics the user names; every other key is shown, not judged): few, so each keeps its power.
VERDICT_FAMILY = ("ttft_ms_p50", "tpot_ms_p50", "output_tok_s", "error_rate")
# `bench run`'s summary table, a row per key (error reasons follow error_rate).
RUN_TABLE = ("completed", "error_rate", "duration_s", "request_s", "output_tok_s", "total_tok_s",
             "goodput_request_s", "ttft_ms_p50", "ttft_ms_p99", "ttft_from_scheduled_ms_p99", "tpot_ms_p50",
             "tpot_ms_p99", "itl_ms_p50", "itl_ms_p99", "e2e_ms_p50", "e2e_ms_p99", "send_lag_ms_p99",
             "loop_lag_ms_p99", "client_loop_cpu_util", "tasks_completed", "tasks_s", "goodput_task_s",
             "task_latency_ms_p50", "task_latency_ms_p99", "calls_per_task_mean", "task_model_ms_mean",
             "task_tool_ms_mean", "task_client_ms_mean", "peak_rss_mb", "peak_gpu_alloc_mb")
# `bench run --brief` (`make bench`): the headline rows of the same table; `bench summary` and the
# report have the rest.
RUN_TABLE_BRIEF = ("completed", "error_rate", "request_s", "output_tok_s", "ttft_ms_p50", "ttft_ms_p99",
                   "tpot_ms_p50", "e2e_ms_p99", "send_lag_ms_p99", "tasks_s", "task_latency_ms_p50",
                   "task_latency_ms_p99", "calls_per_task_mean")
# `bench summary`: the workloads side by side (narrow columns), and the headline numbers it
# compares with a baseline's runs (task workloads' too).
SUITE_TABLE = ("ttft_ms_p50", "tpot_ms_p50", "request_s", "output_tok_s", "tasks_s", "task_latency_ms_p50",
               "calls_per_task_mean", "slo_attainment")
SUITE_BASELINE = ("ttft_ms_p50", "tpot_ms_p50", "output_tok_s", "task_latency_ms_p50")
# An A/B experiment: the effects written to its file, and those it prints.
# Task and reasoning keys are shown (not judged) where both arms have them: what a thinking budget
# or a history policy changes (docs/reasoning.md).
EXPERIMENT_EFFECTS = ("ttft_ms_p50", "tpot_ms_p50", "itl_ms_p50", "e2e_ms_p50", "output_tok_s", "request_s",
                      "task_latency_ms_p50", "ttfa_ms_p50", "reasoning_tokens_per_task_mean")
EXPERIMENT_PRINTED = ("ttft_ms_p50", "tpot_ms_p50", "e2e_ms_p50", "output_tok_s")
# The report: its runs table and its latency CDFs (per-request metrics).
REPORT_RUNS = ("requests", "error_rate", "request_s", "output_tok_s", "ttft_ms_p50", "ttft_ms_p99",
               "tpot_ms_p50", "e2e_ms_p50", "e2e_ms_p99", "task_latency_ms_p50", "tasks_s")
REPORT_CDFS = ("ttft_ms", "tpot_ms", "e2e_ms")
# `bench trend` when no metrics are named.
TREND = ("ttft_ms_p50", "ttft_ms_p99", "tpot_ms_p50", "e2e_ms_p50", "output_tok_s", "request_s",
         "error_rate", "task_latency_ms_p50", "tasks_s")
