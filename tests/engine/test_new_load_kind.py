"""A new load kind is one class plus one registry line, and a capacity search probes it.

`Burst` (this file, not part of the package) sends its sessions in bursts of `size` at once,
`rate` sessions per second on average. Registered by one line, it validates from a config, a run
records its load point, and a capacity search over it runs on the real HF backend (tiny model):
every probe is a burst run the kind built itself, and the search finds a load that meets the SLO
and one that does not.
"""
from __future__ import annotations

import json
from typing import Any, Literal
from collections.abc import Iterator

import numpy as np
import pytest
import yaml
from pydantic import Field

from bench import cli, config, registry
from bench.load.base import Bounded
from bench.results import store


class Burst(Bounded):
    kind: Literal["burst"] = "burst"
    rate: float = Field(gt=0, description="sessions per second, on average")
    size: int = Field(default=4, ge=1, description="sessions sent together")
    probed = True
    per_second = True

    @property
    def open_loop(self) -> bool:
        return True

    @property
    def scheduled(self) -> bool:
        return True

    @property
    def offered(self) -> float:
        return self.rate

    @property
    def arrival_rate_s(self) -> float:
        return self.rate

    def offsets_s(self, rng: np.random.Generator) -> Iterator[float | None]:
        t = 0.0
        while True:
            for _ in range(self.size):
                yield t
            t += self.size / self.rate

    @classmethod
    def at(cls, value: float, duration_s: float, warmup: int, workers: int | str, search: Any) -> Burst:
        return cls(rate=value, duration_s=duration_s, warmup=warmup, workers=workers)


@pytest.fixture
def burst(monkeypatch):
    monkeypatch.setitem(registry.LOADS, "burst", "tests.engine.test_new_load_kind:Burst")     # the one line


BASE = {"name": "burst", "model": "tiny", "seed": 0,
        "backend": {"name": "hf", "options": {"max_batch_size": 4, "torch_threads": 1}},
        "workload": {"file": "chat", "scale": 0.05, "output_tokens": {"dist": "fixed", "value": 640}}}


def test_the_kind_validates_and_answers_the_driver(burst):
    (spec,) = config.load_doc(BASE | {"load": {"kind": "burst", "rate": 8, "requests": 12}}, "b.yaml")
    assert type(spec.load).__name__ == "Burst" and spec.load.point()["kind"] == "burst"
    offsets = [o for _, o in zip(range(8), spec.load.offsets_s(np.random.default_rng(0)))]
    assert offsets == [0.0] * 4 + [0.5] * 4
    with pytest.raises(Exception, match="load.size: Input should be greater than or equal to 1"):
        config.load_doc(BASE | {"load": {"kind": "burst", "rate": 8, "size": 0, "requests": 12}}, "b.yaml")


@pytest.mark.timed   # 16/s must meet its SLO: beside another engine module it once met none (`make test` runs it alone)
def test_a_capacity_search_probes_the_new_kind(burst, tmp_path):
    doc = BASE | {"load": {"kind": "capacity", "search": {"over": "burst", "low": 16, "high": 256,
                                                           "growth": 4, "precision_pct": 100, "time_cap_s": 90,
                                                           "min_duration_s": 2, "max_duration_s": 4,
                                                           "confirm_s": 4}},
                  # a burst of 4 shares one batch: at 16/s each finishes its 32 tokens well within
                  # 2 s; at 64/s and more the queue grows for the whole probe. A burst's 4 units
                  # share their fate, so they weigh as about one (slo.effective_share): a probe
                  # needs 40-odd units to show the SLO met at the 80th percentile (80-odd at the
                  # 90th, which made each probe twice as long)
                  "slo": {"e2e_ms": 2000, "percentile": 80}}
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(doc))
    assert cli.main(["run", str(tmp_path / "b.yaml"), "--results-dir", str(tmp_path / "res"), "--no-progress"]) == 0
    (path,) = (tmp_path / "res").glob("*.capacity.json")
    d = json.loads(path.read_text())
    assert d["over"] == "burst" and d["unit"] == "requests/s"
    runs = {r.run_id: r for r in store.find_runs([tmp_path / "res"])}
    for p in d["probes"]:
        load = runs[p["run_id"]].meta["config"]["load"]
        assert load["kind"] == "burst" and load["rate"] == p["load"] and load["size"] == 4
        assert "concurrency" not in load                      # nothing inherited from another kind
    assert any(p["slo_met"] for p in d["probes"]) and any(p["slo_met"] is False for p in d["probes"]), d["probes"]
    assert d["capacity"] is not None and d["bracket_high"] is not None
