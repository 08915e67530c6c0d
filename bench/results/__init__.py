"""The one writer and reader of results/<run_id>/ (run.json, samples.jsonl), and frames over many runs."""
