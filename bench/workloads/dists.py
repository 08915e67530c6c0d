"""Distributions that workload files name: lengths, delays, counts. Pure, seeded by the caller."""
from __future__ import annotations

import math
from typing import Annotated, Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

Z90 = 1.2815515655446004  # standard normal quantile at 0.90


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    min: float | None = None     # clip bounds, applied after sampling
    max: float | None = None

    def _clip(self, x: np.ndarray) -> np.ndarray:
        lo = -np.inf if self.min is None else self.min
        hi = np.inf if self.max is None else self.max
        return np.clip(x, lo, hi)

    def sample(self, rng: np.random.Generator, n: int | None = None) -> np.ndarray | float:
        x = self._clip(np.asarray(self._draw(rng, 1 if n is None else n), dtype=float))
        return float(x[0]) if n is None else x

    def sample_int(self, rng: np.random.Generator, scale: float = 1.0, low: int = 1) -> int:
        """One draw scaled (token counts shrink for tiny models) and rounded, at least `low`."""
        return max(low, int(round(self.sample(rng) * scale)))


class Fixed(_Dist):
    dist: Literal["fixed"]
    value: float

    def _draw(self, rng, n):
        return np.full(n, self.value)


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


class Normal(_Dist):
    dist: Literal["normal"]
    mean: float
    std: float = Field(ge=0)

    def _draw(self, rng, n):
        return rng.normal(self.mean, self.std, n)


class Exponential(_Dist):
    dist: Literal["exponential"]
    mean: float = Field(gt=0)

    def _draw(self, rng, n):
        return rng.exponential(self.mean, n)


class Empirical(_Dist):
    """Resample observed values (e.g. quantiles kept from a profiled log)."""
    dist: Literal["empirical"]
    values: list[float] = Field(min_length=1)

    def _draw(self, rng, n):
        return rng.choice(np.asarray(self.values, dtype=float), n)


Dist = Annotated[Union[Fixed, Uniform, LogNormal, Normal, Exponential, Empirical],
                 Field(discriminator="dist")]
