"""The metric dictionary page is the metric table rendered: a metric added to the table (or a peer
name added to bench/interop/dictionary.py) without regenerating the page fails here."""
from bench.interop.dictionary import PEERS, TOOLS
from bench.interop.dictionary_page import render
from bench.metrics.definitions import METRICS
from tests.helpers.paths import ROOT


def test_page_is_current():
    page = (ROOT / "docs" / "metric-dictionary.md").read_text()
    assert page == render(), "docs/metric-dictionary.md is stale: run python scripts/metric_dictionary.py"


def test_every_metric_of_the_table_has_a_section():
    text = render()
    for name, m in METRICS.items():
        assert f"## `{name}` ({m.unit})" in text


def test_peer_names_are_for_our_metrics_and_known_tools():
    assert set(PEERS) <= set(METRICS), set(PEERS) - set(METRICS)
    for per_tool in PEERS.values():
        assert set(per_tool) <= set(TOOLS)
