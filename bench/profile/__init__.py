"""`bench profile`: an application's own LLM call logs -> a token-usage profile, a fitted workload
file and a forecast; and `bench export-otel`: a run's samples -> OpenTelemetry GenAI spans.

Every reader turns its format into one normalized list of `Call`s (calls.py); the profile
(profile.py) and the fit (fit.py) are pure functions over that list.
"""
