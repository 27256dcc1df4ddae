"""The latency model: a stated round trip per Coveo request, with jitter, applied by the server.

Timing checks use lower bounds (a request never answers before its round trip) and generous upper
bounds only where the point is overlap (N concurrent requests take about one round trip, not N),
so a loaded machine cannot make them flaky; counts come from GET /_emulator/latency.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from coveo_emulator import cli
from coveo_emulator.config import EmulatorConfig
from coveo_emulator.server import EmulatorServer
from coveo_push_cli.main import build_parser
from tests.emulator.emulator_helpers import API_KEY, PUBLIC, Coveo

BODY = {"title": "t", "data": "d", "permissions": PUBLIC}


def set_latency(coveo: Coveo, **body: Any) -> httpx.Response:
    return coveo.http.put("/_emulator/latency", json=body)


def latency(coveo: Coveo) -> dict[str, Any]:
    return dict(coveo.http.get("/_emulator/latency").json())


def timed(call: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    value = call()
    return value, time.perf_counter() - started


def test_off_by_default(coveo: Coveo) -> None:
    assert EmulatorConfig().latency_ms == 0
    model = latency(coveo)
    assert (model["rttMs"], model["jitterMs"], model["distribution"]) == (0, 0, "uniform")
    assert coveo.put_item("file://f/1", BODY).status_code == 202
    assert latency(coveo)["requestsDelayed"] == 0


def test_a_request_takes_at_least_its_round_trip(coveo: Coveo) -> None:
    assert set_latency(coveo, rttMs=250).status_code == 200
    response, seconds = timed(lambda: coveo.put_item("file://f/1", BODY))
    assert response.status_code == 202
    assert seconds >= 0.25
    model = latency(coveo)
    assert (model["requestsDelayed"], model["meanDelayMs"]) == (1, 250)
    # Half the trip before the request is handled: what it did is there once it answered.
    item = coveo.item("file://f/1")
    assert item is not None
    assert item["indexed"] is True


def test_jitter_is_uniform_around_the_round_trip_and_reproducible_by_seed(coveo: Coveo) -> None:
    def draws(seed: int) -> float:
        set_latency(coveo, rttMs=60, jitterMs=40, seed=seed)
        for i in range(6):
            _, seconds = timed(lambda i=i: coveo.put_item(f"file://f/{i}", BODY))
            assert seconds >= 0.02  # never below rttMs - jitterMs
        model = latency(coveo)
        assert model["requestsDelayed"] == 6
        assert 20 <= model["meanDelayMs"] <= 100
        return float(model["meanDelayMs"])

    first, again, other = draws(7), draws(7), draws(8)
    assert first == again
    assert other != first
    assert latency(coveo)["seed"] == 8


def test_concurrent_requests_overlap(coveo: Coveo, emulator_server: EmulatorServer) -> None:
    """Ten requests on ten connections at once take about one round trip, not ten."""
    rtt_s, n = 0.3, 10
    set_latency(coveo, rttMs=rtt_s * 1000)
    clients = [
        httpx.Client(base_url=emulator_server.base_url, headers={"Authorization": f"Bearer {API_KEY}"})
        for _ in range(n)
    ]
    for client in clients:  # connect first: what is measured is the requests, not the handshakes
        client.get("/_emulator/health")
    statuses: list[int] = []
    barrier = threading.Barrier(n + 1)

    def push(i: int) -> None:
        barrier.wait()
        response = clients[i].put(
            f"{coveo.source}/documents", params={"documentId": f"file://c/{i}"}, json=BODY
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=push, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    for client in clients:
        client.close()
    assert statuses == [202] * n
    assert rtt_s <= seconds < 3 * rtt_s, f"{n} concurrent requests took {seconds:.2f}s"
    assert latency(coveo)["requestsDelayed"] == n


def test_control_routes_are_not_delayed(coveo: Coveo) -> None:
    set_latency(coveo, rttMs=2000)
    calls = [
        lambda: coveo.http.get("/_emulator/latency"),
        lambda: coveo.http.get("/_emulator/stats"),
        lambda: coveo.http.get("/_emulator/state"),
        lambda: coveo.http.get("/_emulator/health"),
        lambda: coveo.http.put("/_emulator/faults", json={"rules": []}),
        lambda: coveo.http.put("/_emulator/latency", json={"rttMs": 2000}),
    ]
    for call in calls:
        response, seconds = timed(call)
        assert response.status_code == 200
        assert seconds < 1.0, f"{response.request.url.path} took {seconds:.2f}s"
    assert latency(coveo)["requestsDelayed"] == 0


def test_every_coveo_route_is_delayed_the_presigned_upload_too(coveo: Coveo) -> None:
    set_latency(coveo, rttMs=150)
    container, seconds = timed(coveo.create_container)
    assert seconds >= 0.15
    upload, seconds = timed(
        lambda: httpx.put(
            container["uploadUri"], content=b'{"addOrUpdate": []}', headers=container["requiredHeaders"]
        )
    )
    assert upload.status_code == 200
    assert seconds >= 0.15
    batch, seconds = timed(
        lambda: coveo.http.put(f"{coveo.source}/documents/batch", params={"fileId": container["fileId"]})
    )
    assert batch.status_code == 202
    assert seconds >= 0.15
    _, seconds = timed(lambda: coveo.http.get(f"{coveo.rest}/indexes"))
    assert seconds >= 0.15
    assert latency(coveo)["requestsDelayed"] == 4


def test_a_fault_answer_takes_the_round_trip_too(coveo: Coveo) -> None:
    set_latency(coveo, rttMs=150)
    coveo.set_faults({"rules": [{"route": "* /push/*", "action": "503"}]})
    response, seconds = timed(lambda: coveo.put_item("file://f/1", BODY))
    assert response.status_code == 503
    assert seconds >= 0.15


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"rttMs": -1}, "between 0 and"),
        ({"rttMs": 10, "jitterMs": -1}, "between 0 and"),
        ({"rttMs": 10, "jitterMs": 20}, "may not exceed"),
        ({"rttMs": "100"}, "number of milliseconds"),
        ({"rttMs": True}, "number of milliseconds"),
        ({"rttMs": 1e12}, "between 0 and"),
        ({"jitterMs": 10}, "'rttMs' is required"),
        ({"rttMs": 100, "rtt_ms": 100}, "unknown key"),
        ({"rttMs": 100, "seed": 1.5}, "'seed' must be an integer"),
        ([100], "must be a JSON object"),
    ],
)
def test_bad_values_are_refused_with_a_reason(coveo: Coveo, body: Any, reason: str) -> None:
    set_latency(coveo, rttMs=5, jitterMs=1, seed=3)
    response = coveo.http.put("/_emulator/latency", json=body)
    assert response.status_code == 400
    assert response.json()["errorCode"] == ("INVALID_LATENCY" if isinstance(body, dict) else "INVALID_JSON")
    assert reason in response.json()["message"]
    model = latency(coveo)  # unchanged
    assert (model["rttMs"], model["jitterMs"], model["seed"]) == (5, 1, 3)


def test_reset_restores_the_configured_latency(coveo: Coveo) -> None:
    set_latency(coveo, rttMs=300, jitterMs=10)
    coveo.reset()
    assert latency(coveo)["rttMs"] == 0
    assert coveo.put_item("file://f/1", BODY).status_code == 202
    assert latency(coveo)["requestsDelayed"] == 0


@pytest.fixture
def slow_server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(latency_ms=200, jitter_ms=20, latency_seed=5)) as server:
        yield server


def test_latency_configured_at_start_survives_a_reset(slow_server: EmulatorServer) -> None:
    coveo = Coveo(slow_server.base_url)
    try:
        coveo.reset()
        model = latency(coveo)
        assert (model["rttMs"], model["jitterMs"], model["seed"]) == (200, 20, 5)
        response, seconds = timed(lambda: coveo.put_item("file://f/1", BODY))
        assert response.status_code == 202
        assert seconds >= 0.18
        set_latency(coveo, rttMs=0)  # off at run time
        coveo.put_item("file://f/2", BODY)
        assert latency(coveo)["requestsDelayed"] == 0
        coveo.reset()
        assert latency(coveo)["rttMs"] == 200
    finally:
        coveo.http.close()


@pytest.mark.parametrize(
    "fields", [{"latency_ms": -5}, {"latency_ms": 10, "jitter_ms": 11}, {"latency_ms": float("nan")}]
)
def test_config_refuses_bad_values(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"rttMs|jitterMs"):
        EmulatorConfig(**fields)


def test_command_line_options() -> None:
    args = build_parser().parse_args(
        ["emulator", "--latency-ms", "100", "--jitter-ms", "10", "--latency-seed", "3"]
    )
    assert (args.latency_ms, args.jitter_ms, args.latency_seed) == (100, 10, 3)
    defaults = build_parser().parse_args(["emulator"])
    assert (defaults.latency_ms, defaults.jitter_ms, defaults.latency_seed) == (0, 0, 0)


def test_command_line_refuses_jitter_above_the_round_trip(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert cli.run(parser.parse_args(["--latency-ms", "10", "--jitter-ms", "20"])) == 2
    assert "may not exceed" in capsys.readouterr().err
