"""How fresh the index is: per verified change, its event time → pushed → indexed, and a run's
percentiles of the delays between them.

- **event time**: the CloudEvent's `time` (None when the event gave none: a `version` stood for it);
- **pushed**: when the push function sent the change to Coveo (the ledger's `pushed_at_ms`);
- **indexed**: when Coveo says it indexed it (the INDEXING entry of the Logs API for an item, the
  security cache's `lastUpdateDate` for an identity), or, where Coveo gives no time (a deleted
  identity the cache no longer knows, an update date older than the push), when the validator
  saw it done: a later time, by at most the processing delay plus one validator period.

Percentiles are nearest-rank: the p-th percentile of n values is the value at rank ⌈p/100 · n⌉ of
the sorted values (rank 1 the smallest), always one of the values seen, never interpolated. A delay
below zero (clocks apart: a producer's clock ahead, Coveo's behind ours) counts as 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# The delays a run reports, by the name of their metrics and of the local report's keys.
DELAYS = ("EventToPushed", "PushedToIndexed", "EventToIndexed")
STATISTICS = ("P50", "P95", "Max")


@dataclass(frozen=True)
class FreshnessSample:
    """One verified change's times, epoch milliseconds."""

    pushed_at_ms: int
    indexed_at_ms: int
    event_time_ms: int | None = None  # None: the event had no `time`
    indexed_observed: bool = False  # Coveo gave no time: the validator's run time stands for it

    def delays_s(self) -> dict[str, float | None]:
        """Each delay in seconds (None where the event time is unknown), never below 0."""
        event = self.event_time_ms
        return {
            "EventToPushed": None if event is None else _seconds(self.pushed_at_ms - event),
            "PushedToIndexed": _seconds(self.indexed_at_ms - self.pushed_at_ms),
            "EventToIndexed": None if event is None else _seconds(self.indexed_at_ms - event),
        }


def nearest_rank(values: Iterable[float], percentile: float) -> float | None:
    """The nearest-rank percentile (0 < percentile ≤ 100) of the values, in any order; None for none.

    The smallest value with at least `percentile` % of the values at or below it: for [1, 2, 3, 4]
    p50 is 2 and p95 is 4; for one value, every percentile is that value."""
    if not 0 < percentile <= 100:
        raise ValueError(f"a percentile is above 0 and at most 100, not {percentile}")
    ordered = sorted(values)
    if not ordered:
        return None
    rank = math.ceil(percentile / 100 * len(ordered))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Spread:
    """p50, p95 and max of one delay over a run's samples, seconds."""

    count: int
    p50: float
    p95: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread | None:
        if not values:
            return None
        p50, p95 = nearest_rank(values, 50), nearest_rank(values, 95)
        assert p50 is not None and p95 is not None  # values is not empty
        return cls(len(values), p50, p95, max(values))


@dataclass(frozen=True)
class Freshness:
    """A run's (or a local run's) freshness: each delay's spread, None where no sample has it."""

    samples: int = 0
    without_event_time: int = 0  # samples whose event had no time: only pushed → indexed is known
    indexed_observed: int = 0  # samples whose indexing time is the validator's, not Coveo's
    spreads: tuple[tuple[str, Spread | None], ...] = ()

    @classmethod
    def of(cls, samples: Sequence[FreshnessSample]) -> Freshness:
        delays = [sample.delays_s() for sample in samples]
        return cls(
            samples=len(samples),
            without_event_time=sum(1 for sample in samples if sample.event_time_ms is None),
            indexed_observed=sum(1 for sample in samples if sample.indexed_observed),
            spreads=tuple(
                (name, Spread.of([value for d in delays if (value := d[name]) is not None]))
                for name in DELAYS
            ),
        )

    def spread(self, delay: str) -> Spread | None:
        return dict(self.spreads).get(delay)

    def metrics(self) -> dict[str, float]:
        """EMF metric name → seconds, e.g. `EventToIndexedP95Seconds`; a delay no sample has is left
        out (a run that verified nothing says nothing about freshness, rather than 0)."""
        found = {}
        for name, spread in self.spreads:
            if spread is not None:
                found[f"{name}P50Seconds"] = spread.p50
                found[f"{name}P95Seconds"] = spread.p95
                found[f"{name}MaxSeconds"] = spread.max
        return found

    def report(self) -> dict[str, Any]:
        """The local report's `freshness`: camelCase, seconds to the millisecond, null where unknown."""
        reported: dict[str, Any] = {}
        for name, spread in self.spreads or tuple((name, None) for name in DELAYS):
            key = name[0].lower() + name[1:]
            reported[key] = (
                None
                if spread is None
                else {"p50": round(spread.p50, 3), "p95": round(spread.p95, 3), "max": round(spread.max, 3)}
            )
        reported["samples"] = self.samples
        reported["withoutEventTime"] = self.without_event_time
        reported["indexedTimeObserved"] = self.indexed_observed
        reported["percentiles"] = "nearest-rank"
        return reported


def _seconds(ms: int) -> float:
    return max(ms, 0) / 1000
