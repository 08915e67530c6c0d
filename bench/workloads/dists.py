"""Distributions that workload files name: lengths, delays, counts. Pure, seeded by the caller."""
from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

Z90 = 1.2815515655446004  # standard normal quantile at 0.90
# More tokens than any model's context (the longest are about 10 M): a length beyond it is a typo
# (1e9 for 1e3) that would exhaust memory while the prompt is built, so it is refused at load and
# a rare tail draw is clipped to it.
MAX_TOKENS = 10_000_000
# Turns per conversation, steps per agent task, tool calls per step: a plan is drawn step by step,
# so a count like 1e9 would hang the workload's generation instead of failing at load.
MAX_COUNT = 10_000


class _Dist(BaseModel):
    # strict: a quoted number or a mapping is refused, never coerced; inf/nan are no lengths.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)
    min: float | None = None     # clip bounds, applied after sampling
    max: float | None = None

    @model_validator(mode="after")
    def _bounds(self):
        if self.min is not None and self.max is not None and self.max < self.min:
            raise ValueError("needs min <= max")
        return self

    def _typical_max(self) -> float:
        raise NotImplementedError

    def bound(self) -> float:
        """A value draws seldom pass (p90, the top of a range, the largest value), after the
        clip: what a config's limits are checked against at load."""
        lo = -np.inf if self.min is None else self.min
        hi = np.inf if self.max is None else self.max
        return float(np.clip(self._typical_max(), lo, hi))

    def _clip(self, x: np.ndarray) -> np.ndarray:
        lo = -np.inf if self.min is None else self.min
        hi = np.inf if self.max is None else self.max
        return np.clip(x, lo, hi)

    def sample(self, rng: np.random.Generator, n: int | None = None) -> np.ndarray | float:
        x = self._clip(np.asarray(self._draw(rng, 1 if n is None else n), dtype=float))
        return float(x[0]) if n is None else x

    def sample_int(self, rng: np.random.Generator, scale: float = 1.0, low: int = 1,
                   high: int = MAX_TOKENS) -> int:
        """One draw scaled (token counts shrink for tiny models) and rounded, in [low, high]."""
        return max(low, min(high, int(round(self.sample(rng) * scale))))


class Fixed(_Dist):
    dist: Literal["fixed"]
    value: float

    def _draw(self, rng, n):
        return np.full(n, self.value)

    def _typical_max(self) -> float:
        return self.value


class Uniform(_Dist):
    dist: Literal["uniform"]
    low: float
    high: float

    @model_validator(mode="after")
    def _ok(self):
        if self.high < self.low:
            raise ValueError("uniform needs low <= high")
        return self

    def _draw(self, rng, n):
        return rng.uniform(self.low, self.high, n)

    def _typical_max(self) -> float:
        return self.high


class LogNormal(_Dist):
    """Given by its median and 90th percentile, the way published traces report lengths."""
    dist: Literal["lognormal"]
    median: float = Field(gt=0)
    p90: float = Field(gt=0)

    @model_validator(mode="after")
    def _ok(self):
        if self.p90 < self.median:
            raise ValueError("lognormal needs p90 >= median")
        return self

    @property
    def mu(self) -> float:
        return math.log(self.median)

    @property
    def sigma(self) -> float:
        return (math.log(self.p90) - self.mu) / Z90

    def _draw(self, rng, n):
        return rng.lognormal(self.mu, self.sigma, n)

    def _typical_max(self) -> float:
        return self.p90


class Normal(_Dist):
    dist: Literal["normal"]
    mean: float
    std: float = Field(ge=0)

    def _draw(self, rng, n):
        return rng.normal(self.mean, self.std, n)

    def _typical_max(self) -> float:
        return self.mean + Z90 * self.std


class Exponential(_Dist):
    dist: Literal["exponential"]
    mean: float = Field(gt=0)

    def _draw(self, rng, n):
        return rng.exponential(self.mean, n)

    def _typical_max(self) -> float:
        return self.mean * math.log(10)     # its p90


class Empirical(_Dist):
    """Resample observed values (e.g. quantiles kept from a profiled log)."""
    dist: Literal["empirical"]
    values: list[float] = Field(min_length=1)

    def _draw(self, rng, n):
        return rng.choice(np.asarray(self.values, dtype=float), n)

    def _typical_max(self) -> float:
        return max(self.values)


Dist = Annotated[Fixed | Uniform | LogNormal | Normal | Exponential | Empirical,
                 Field(discriminator="dist")]
