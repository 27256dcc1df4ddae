"""The latency scenario's arithmetic (bench/latency.py), its profile (bench/cpu_profile.py) and the
event source mapping's bookkeeping (bench/esm.py): what the results say, without servers."""

from __future__ import annotations

import threading
import time
import zlib
from typing import Any

import pytest

from bench import latency
from bench.cpu_profile import PER_THREAD_PROFILES, ThreadCpuProfile, describe, library_of, library_of_builtin
from bench.esm import _HttpClock, _max_overlap, merge_profiles


def _connector_run(**overrides: Any) -> dict[str, Any]:
    run = {
        "items": 1000,
        "seconds": 2.0,
        "handler_seconds": 3.0,
        "coveo_wait_seconds": 0.7,
        "ledger_wait_seconds": 1.5,
        "other_aws_wait_seconds": 0.1,
        "handler_cpu_seconds": 1.2,
        "mapping_gather_seconds": 0.9,
        "mapping_settle_seconds": 0.4,
        "moto_cpu_seconds_during_drain": 2.5,
    }
    return {**run, **overrides}


def test_time_per_1000_splits_the_handler_time_and_scales_to_1000_changes() -> None:
    budget = latency.time_per_1000(_connector_run(items=500), None)
    assert budget["wall_s"] == 4.0
    assert budget["handler_s"] == 6.0
    assert (budget["coveo_wait_s"], budget["ledger_wait_s"], budget["other_aws_wait_s"]) == (1.4, 3.0, 0.2)
    # the rest is what the handler did outside the three waits
    assert budget["handler_rest_s"] == pytest.approx(6.0 - 1.4 - 3.0 - 0.2)
    assert budget["handler_cpu_s"] == 2.4
    assert (budget["mapping_gather_s"], budget["mapping_settle_s"], budget["moto_cpu_s"]) == (1.8, 0.8, 5.0)
    assert "top_cpu_consumers" not in budget
    assert budget["coveo_prefetch_s"] == 0.0
    with_prefetch = latency.time_per_1000(_connector_run(items=500, coveo_prefetch_seconds=0.2), None)
    assert with_prefetch["coveo_prefetch_s"] == 0.4
    assert with_prefetch["handler_rest_s"] == budget["handler_rest_s"]  # overlapped: not taken again


def test_the_container_prefetch_s_coveo_time_is_not_the_handler_thread_s_wait() -> None:
    import types

    from coveo_push_api.client import PREFETCH_THREAD_NAME

    clock = _HttpClock()

    def round_trip() -> None:
        request = types.SimpleNamespace()
        clock._on_request(request)
        time.sleep(0.02)
        clock._on_response(types.SimpleNamespace(request=request))

    prefetch = threading.Thread(target=round_trip, name=f"{PREFETCH_THREAD_NAME}_0")
    prefetch.start()
    prefetch.join()
    assert clock.seconds == 0.0 and clock.prefetch_seconds >= 0.02
    round_trip()  # the handler's own thread
    assert clock.seconds >= 0.02 and clock.requests == 2


def test_time_per_1000_names_the_top_three_consumers_of_the_profiled_run() -> None:
    rows = [
        {
            "function": f"connector.m:F{i}",
            "cpu_s": seconds,
            "libraries": {"botocore": seconds * 0.9, "own code": seconds * 0.1},
        }
        for i, seconds in enumerate([0.5, 0.2, 0.1, 0.05])
    ]
    profiled = _connector_run(handler_cpu_seconds=1.0, profile={"cpu_s": 1.0, "by_function": rows})
    top = latency.time_per_1000(_connector_run(), profiled)["top_cpu_consumers"]
    assert [t["function"] for t in top] == ["connector.m:F0", "connector.m:F1", "connector.m:F2"]
    assert [t["share"] for t in top] == [0.5, 0.2, 0.1]
    assert top[0]["consumer"] == "F0 (connector.m): botocore 90%, own code 10%"
    assert top[0]["libraries_s"] == {"botocore": 0.45, "own code": 0.05}


def _entry(items_per_s: float, requests_per_1000: float) -> dict[str, Any]:
    return {"items_per_s": items_per_s, "requests_per_1000": requests_per_1000}


@pytest.mark.parametrize(
    ("connector", "one_by_one", "batch", "met"),
    [
        (_entry(600, 6), _entry(10, 1000), _entry(800, 3), [True, True, True]),
        (_entry(400, 6), _entry(10, 1000), _entry(800, 3), [False, False, True]),
        (_entry(600, 15), _entry(10, 1000), _entry(1000, 3), [True, False, False]),
        (_entry(600, 6), _entry(10, 1000), _entry(900, 3), [True, True, True]),  # 1.5x exactly is met
    ],
)
def test_targets_of_issue_17_are_reported_as_measured(
    connector: dict[str, Any], one_by_one: dict[str, Any], batch: dict[str, Any], met: list[bool]
) -> None:
    checks = latency.targets(
        {"connector": connector, "official_one_by_one": one_by_one, "official_batch": batch}
    )
    assert [c["met"] for c in checks] == met
    assert checks[0]["value"] == connector["items_per_s"] / 10
    assert checks[1]["value"] == round(batch["items_per_s"] / connector["items_per_s"], 4)


def test_summaries_check_that_the_emulator_delayed_every_request() -> None:
    def run(requests: int, delayed: int) -> dict[str, Any]:
        return {
            "items": 100,
            "seconds": 10.0,
            "requests": requests,
            "ok": True,
            "peak_rss_mb": 30.0,
            "requests_by_route": {},
            "emulator_latency": {"requestsDelayed": delayed, "meanDelayMs": 100.2},
        }

    assert latency.summarize_official([run(100, 100)])["every_request_delayed"] is True
    summary = latency.summarize_official([run(100, 100), run(100, 99)])
    assert summary["every_request_delayed"] is False
    assert summary["requests_per_1000"] == 1000.0
    assert summary["items_per_s"] == 10.0


def test_max_overlap_counts_invocations_running_at_once() -> None:
    assert _max_overlap([]) == 0
    assert _max_overlap([(0.0, 1.0), (0.5, 1.5), (2.0, 3.0)]) == 2
    assert _max_overlap([(0.0, 1.0), (1.0, 2.0)]) == 1  # one ends as the next starts


def test_merge_profiles_adds_the_instances_up() -> None:
    a = {"cpu_s": 1.0, "by_function": [{"function": "f", "cpu_s": 0.6, "libraries": {"botocore": 0.5}}]}
    b = {
        "cpu_s": 2.0,
        "by_function": [
            {"function": "f", "cpu_s": 0.4, "libraries": {"botocore": 0.3, "json": 0.1}},
            {"function": "g", "cpu_s": 1.5, "libraries": {"pydantic": 1.5}},
        ],
    }
    merged = merge_profiles([a, b])
    assert merged is not None
    assert merged["cpu_s"] == 3.0
    assert [row["function"] for row in merged["by_function"]] == ["g", "f"]
    assert merged["by_function"][1]["cpu_s"] == pytest.approx(1.0)
    assert merged["by_function"][1]["libraries"] == pytest.approx({"botocore": 0.8, "json": 0.1})
    assert merge_profiles([]) is None


def test_libraries_are_named_by_package_or_stdlib_module() -> None:
    assert library_of("/x/.venv/lib/python3.11/site-packages/botocore/client.py") == "botocore"
    assert library_of("/work/main/layers/shared/connector/domain/pipeline.py") == "connector"
    assert library_of(threading.__file__) == "threading"
    assert library_of_builtin("<built-in method zlib.compress>") == "zlib"
    assert library_of_builtin("<method 'recv_into' of '_socket.socket' objects>") == "socket"
    assert library_of_builtin("<built-in method builtins.len>") == "builtins"
    assert describe({"function": "m.n:C.f", "cpu_s": 1.0, "libraries": {"zlib": 0.75, "own code": 0.25}}) == (
        "C.f (m.n): zlib 75%, own code 25%"
    )


@pytest.mark.skipif(not PER_THREAD_PROFILES, reason="cProfile runs in one thread at a time from Python 3.12")
def test_the_profile_counts_cpu_in_every_thread_and_not_time_spent_waiting() -> None:
    def burn() -> None:
        data = b"x" * 200_000
        deadline = time.thread_time() + 0.05
        while time.thread_time() < deadline:
            zlib.compress(data)

    profile = ThreadCpuProfile()
    profile.start()
    try:
        worker = threading.Thread(target=burn)
        worker.start()
        time.sleep(0.2)  # waiting: not CPU
        worker.join()
    finally:
        profile.stop()
    found = profile.consumers()
    assert 0.04 <= found["cpu_s"] < 0.2


@pytest.mark.skipif(PER_THREAD_PROFILES, reason="Python 3.11 profiles every thread")
def test_from_python_312_the_profile_refuses_rather_than_count_one_thread() -> None:
    with pytest.raises(RuntimeError, match=r"needs Python 3\.11"):
        ThreadCpuProfile().start()
