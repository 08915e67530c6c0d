"""Reads results only: compare, trend, report, forecast, experiments, statistics."""
