"""Freshness: the nearest-rank percentiles of event → pushed → indexed, from known timestamps, and
the samples the validator takes of what it verifies (Coveo's indexing time, or its own)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from connector.domain.freshness import Freshness, FreshnessSample, Spread, nearest_rank
from tests import worked_example as wx
from tests.unit.test_validator import T0, Clock, entry, identity_event, item_event, pushed, setup

# --- nearest-rank percentiles -----------------------------------------------------------------------


def test_no_values_have_no_percentile() -> None:
    assert nearest_rank([], 50) is None
    assert nearest_rank([], 95) is None
    assert Spread.of([]) is None


@pytest.mark.parametrize("percentile", [1, 50, 95, 100])
def test_one_value_is_every_percentile(percentile: float) -> None:
    assert nearest_rank([7.5], percentile) == 7.5


def test_the_rank_is_the_ceiling_of_p_percent_of_n() -> None:
    # 1..20: p50 at rank 10, p95 at rank 19 (0.95 x 20 = 19 exactly), max 20.
    assert (nearest_rank(range(1, 21), 50), nearest_rank(range(1, 21), 95)) == (10, 19)
    # 1..100: ranks 50 and 95.
    assert (nearest_rank(range(1, 101), 50), nearest_rank(range(1, 101), 95)) == (50, 95)
    # Four values: p50 at rank 2, p95 at rank ceil(3.8) = 4: a value seen, never interpolated.
    assert (nearest_rank([1, 2, 3, 4], 50), nearest_rank([1, 2, 3, 4], 95)) == (2, 4)
    # Three: p50 at rank ceil(1.5) = 2.
    assert nearest_rank([10, 20, 30], 50) == 20


def test_the_order_of_the_values_does_not_matter() -> None:
    values = [float(v) for v in range(1, 41)]
    shuffled = values[:]
    random.Random(19).shuffle(shuffled)
    assert shuffled != values
    assert Spread.of(shuffled) == Spread.of(values) == Spread(40, 20.0, 38.0, 40.0)
    assert Spread.of([9.0, 1.0, 5.0]) == Spread(3, 5.0, 9.0, 9.0)


def test_ties_are_counted_each() -> None:
    assert Spread.of([3.0, 3.0, 3.0, 3.0]) == Spread(4, 3.0, 3.0, 3.0)
    # Nineteen at 1 s and one at 60 s: the one slow change is above p95 (rank 19), not at it.
    assert Spread.of([1.0] * 19 + [60.0]) == Spread(20, 1.0, 1.0, 60.0)
    # Two slow ones out of twenty reach p95.
    assert Spread.of([1.0] * 18 + [60.0, 60.0]) == Spread(20, 1.0, 60.0, 60.0)


@pytest.mark.parametrize("percentile", [0, -5, 100.5])
def test_a_percentile_out_of_range_is_refused(percentile: float) -> None:
    with pytest.raises(ValueError, match="percentile"):
        nearest_rank([1.0], percentile)


# --- samples and a run's summary --------------------------------------------------------------------


def sample(event: int | None, pushed_at: int, indexed: int, *, observed: bool = False) -> FreshnessSample:
    """Times in seconds after T0, as epoch ms."""
    return FreshnessSample(
        pushed_at_ms=T0 + pushed_at * 1000,
        indexed_at_ms=T0 + indexed * 1000,
        event_time_ms=None if event is None else T0 + event * 1000,
        indexed_observed=observed,
    )


def test_a_sample_gives_each_delay_in_seconds() -> None:
    assert sample(0, 4, 64).delays_s() == {
        "EventToPushed": 4.0,
        "PushedToIndexed": 60.0,
        "EventToIndexed": 64.0,
    }
    # To the millisecond.
    precise = FreshnessSample(pushed_at_ms=T0 + 1_250, indexed_at_ms=T0 + 3_001, event_time_ms=T0)
    assert precise.delays_s() == {"EventToPushed": 1.25, "PushedToIndexed": 1.751, "EventToIndexed": 3.001}


def test_a_sample_without_an_event_time_has_only_pushed_to_indexed() -> None:
    assert sample(None, 4, 64).delays_s() == {
        "EventToPushed": None,
        "PushedToIndexed": 60.0,
        "EventToIndexed": None,
    }


def test_clocks_apart_count_as_no_delay_not_a_negative_one() -> None:
    # The producer's clock 10 s ahead of ours: its event "happened" after the push.
    assert sample(14, 4, 64).delays_s() == {
        "EventToPushed": 0.0,
        "PushedToIndexed": 60.0,
        "EventToIndexed": 50.0,
    }


def test_a_run_sums_up_each_delay_from_known_timestamps() -> None:
    # Twenty changes: events at 0, pushed 2 s later (the 20th 40 s later), indexed 10 s after
    # pushed (the 19th and 20th 100 s after); one more without an event time.
    samples = [sample(0, 2, 12) for _ in range(17)]
    samples += [sample(0, 3, 13), sample(0, 2, 102), sample(0, 40, 140), sample(None, 1, 1_001)]
    random.Random(3).shuffle(samples)
    freshness = Freshness.of(samples)
    assert (freshness.samples, freshness.without_event_time, freshness.indexed_observed) == (21, 1, 0)
    assert freshness.spread("EventToPushed") == Spread(20, 2.0, 3.0, 40.0)
    # pushed → indexed counts all 21: 18 x 10 s, 2 x 100 s, 1 x 1000 s; p95 at rank ceil(19.95) = 20.
    assert freshness.spread("PushedToIndexed") == Spread(21, 10.0, 100.0, 1000.0)
    # event → indexed: 17 x 12, 13, 102, 140; p95 at rank 19 = 102.
    assert freshness.spread("EventToIndexed") == Spread(20, 12.0, 102.0, 140.0)
    assert freshness.metrics() == {
        "EventToPushedP50Seconds": 2.0,
        "EventToPushedP95Seconds": 3.0,
        "EventToPushedMaxSeconds": 40.0,
        "PushedToIndexedP50Seconds": 10.0,
        "PushedToIndexedP95Seconds": 100.0,
        "PushedToIndexedMaxSeconds": 1000.0,
        "EventToIndexedP50Seconds": 12.0,
        "EventToIndexedP95Seconds": 102.0,
        "EventToIndexedMaxSeconds": 140.0,
    }
    assert freshness.report() == {
        "eventToPushed": {"p50": 2.0, "p95": 3.0, "max": 40.0},
        "pushedToIndexed": {"p50": 10.0, "p95": 100.0, "max": 1000.0},
        "eventToIndexed": {"p50": 12.0, "p95": 102.0, "max": 140.0},
        "samples": 21,
        "withoutEventTime": 1,
        "indexedTimeObserved": 0,
        "percentiles": "nearest-rank",
    }


def test_a_run_that_verified_nothing_emits_no_freshness_and_reports_nulls() -> None:
    for freshness in (Freshness.of([]), Freshness()):
        assert freshness.metrics() == {}
        report = freshness.report()
        assert (report["eventToPushed"], report["pushedToIndexed"], report["eventToIndexed"]) == (
            None,
            None,
            None,
        )
        assert report["samples"] == 0


def test_changes_without_event_times_emit_only_pushed_to_indexed() -> None:
    freshness = Freshness.of([sample(None, 0, 30), sample(None, 0, 50)])
    assert freshness.metrics() == {
        "PushedToIndexedP50Seconds": 30.0,
        "PushedToIndexedP95Seconds": 50.0,
        "PushedToIndexedMaxSeconds": 50.0,
    }
    assert freshness.report()["eventToIndexed"] is None


# --- what the validator samples ---------------------------------------------------------------------


def timed(event: dict[str, Any], ms: int) -> dict[str, Any]:
    at = entry("x", "", "", ms)["datetime"]
    return {**event, "time": at}


def test_the_validator_samples_event_time_push_and_coveos_indexing_time() -> None:
    clock = Clock(T0 + 5_000)  # pushed 5 s after the event
    _, pipeline, reader, validator = setup(clock)
    pushed(pipeline, timed(item_event("file://a"), T0), item_event("file://untimed"))
    clock.now = T0 + 600_000  # the validator runs 10 minutes later...
    reader.entries = [
        entry("file://a", "INDEXING", "COMPLETED", T0 + 65_000),  # ...Coveo indexed a a minute after the push
        entry("file://untimed", "INDEXING", "COMPLETED", T0 + 35_000),
    ]
    report = validator.run()
    assert report.verified == 2
    assert sorted(report.freshness, key=lambda s: s.indexed_at_ms) == [
        FreshnessSample(pushed_at_ms=T0 + 5_000, indexed_at_ms=T0 + 35_000, event_time_ms=None),
        FreshnessSample(pushed_at_ms=T0 + 5_000, indexed_at_ms=T0 + 65_000, event_time_ms=T0),
    ]
    assert Freshness.of(report.freshness).spread("EventToIndexed") == Spread(1, 65.0, 65.0, 65.0)


def test_a_pending_or_failed_push_is_no_freshness_sample() -> None:
    clock = Clock(T0)
    _, pipeline, reader, validator = setup(clock)
    pushed(pipeline, timed(item_event("file://wait"), T0), timed(item_event("file://bad"), T0))
    clock.now = T0 + 60_000
    reader.entries = [entry("file://bad", "MAPPING", "REJECTED", T0 + 2_000, error="bad metadata")]
    report = validator.run()
    assert (report.verified, report.failed, report.pending, report.freshness) == (0, 1, 1, [])


def test_a_re_pushed_change_keeps_its_events_time() -> None:
    """Rejected for an identity not yet known, pushed again, then indexed: event → indexed counts from
    the event, pushed → indexed from the re-push."""
    clock = Clock(T0 + 1_000)
    _, pipeline, reader, validator = setup(clock)
    pushed(pipeline, timed(item_event("file://a"), T0))
    clock.now = T0 + 60_000
    reader.entries = [
        entry("file://a", "PROCESSING", "REJECTED", T0 + 2_000, error="unknown security identity: Group 'X'")
    ]
    assert validator.run().repushed == 1  # pushed again at T0 + 60 s
    clock.now = T0 + 120_000
    reader.entries.append(entry("file://a", "INDEXING", "COMPLETED", T0 + 90_000))
    report = validator.run()
    assert report.freshness == [
        FreshnessSample(pushed_at_ms=T0 + 60_000, indexed_at_ms=T0 + 90_000, event_time_ms=T0)
    ]


def test_an_identity_is_indexed_when_the_cache_last_updated_it() -> None:
    clock = Clock(T0 + 2_000)
    _, pipeline, reader, validator = setup(clock, "identity")
    pushed(pipeline, timed(identity_event("g", "identity.upserted", {**wx.group_wire(), "version": 1}), T0))
    clock.now = T0 + 300_000
    reader.cache["GROUP AlphaTeam"] = "UP_TO_DATE"
    reader.updated["GROUP AlphaTeam"] = T0 + 32_000
    reader.members["GROUP AlphaTeam"] = [("User", m) for m in wx.MEMBERS]
    report = validator.run()
    assert report.verified == 1
    assert report.freshness == [
        FreshnessSample(pushed_at_ms=T0 + 2_000, indexed_at_ms=T0 + 32_000, event_time_ms=T0)
    ]


@pytest.mark.parametrize("updated", [None, T0 + 1_000], ids=["no update date", "updated before the push"])
def test_without_coveos_time_the_validators_run_stands_for_it_and_says_so(updated: int | None) -> None:
    """A delete the cache shows DISABLED with no update date, or with one older than the push (about
    an earlier change): the run's time stands for when this one took effect, marked observed."""
    clock = Clock(T0 + 2_000)
    _, pipeline, reader, validator = setup(clock, "identity")
    body = {"identity": {"name": "AlphaTeam", "type": "GROUP"}, "version": 1}
    pushed(pipeline, timed(identity_event("d", "identity.deleted", body), T0))
    clock.now = T0 + 300_000
    reader.cache["GROUP AlphaTeam"] = "DISABLED"
    if updated is not None:
        reader.updated["GROUP AlphaTeam"] = updated
    report = validator.run()
    assert report.freshness == [
        FreshnessSample(
            pushed_at_ms=T0 + 2_000, indexed_at_ms=T0 + 300_000, event_time_ms=T0, indexed_observed=True
        )
    ]
    assert Freshness.of(report.freshness).report()["indexedTimeObserved"] == 1


def test_coveo_s_time_equal_to_the_push_s_is_taken_as_given() -> None:
    clock = Clock(T0 + 2_000)
    _, pipeline, reader, validator = setup(clock)
    pushed(pipeline, timed(item_event("file://a"), T0))
    clock.now = T0 + 60_000
    reader.entries = [entry("file://a", "INDEXING", "COMPLETED", T0 + 2_000)]  # the push's own millisecond
    report = validator.run()
    assert report.freshness == [
        FreshnessSample(pushed_at_ms=T0 + 2_000, indexed_at_ms=T0 + 2_000, event_time_ms=T0)
    ]


def test_a_log_time_without_an_offset_is_utc_and_does_not_stop_the_run() -> None:
    """Coveo's times are UTC whether they say so or not; one without an offset once compared with
    the validator's own aware times and stopped the whole run with a TypeError."""
    clock = Clock(T0 + 2_000)
    _, pipeline, reader, validator = setup(clock)
    pushed(pipeline, timed(item_event("file://a"), T0), item_event("file://b"))
    clock.now = T0 + 60_000
    naive = entry("file://a", "INDEXING", "COMPLETED", T0 + 32_000)
    naive["datetime"] = naive["datetime"].removesuffix("Z")
    reader.entries = [naive, entry("file://b", "INDEXING", "COMPLETED", T0 + 40_000)]
    report = validator.run()
    assert report.verified == 2
    assert (
        FreshnessSample(pushed_at_ms=T0 + 2_000, indexed_at_ms=T0 + 32_000, event_time_ms=T0)
        in report.freshness
    )
