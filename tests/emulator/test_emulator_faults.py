"""Fault rules (reproducible by seed) and request statistics."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.emulator.emulator_helpers import PUBLIC, Coveo

BODY = {"title": "t", "data": "d", "permissions": PUBLIC}
DOCUMENTS = "PUT /push/v1/organizations/{organizationId}/sources/{sourceId}/documents"


def push_statuses(coveo: Coveo, n: int) -> list[int]:
    return [coveo.put_item(f"file://f/{i}", BODY).status_code for i in range(n)]


def test_same_seed_same_requests_same_faults(coveo: Coveo) -> None:
    rules = [{"route": DOCUMENTS, "action": "429", "probability": 0.5, "retryAfter": 3}]
    assert coveo.set_faults({"seed": 7, "rules": rules}).status_code == 200
    first = push_statuses(coveo, 40)
    coveo.reset()
    coveo.set_faults({"seed": 7, "rules": rules})
    second = push_statuses(coveo, 40)
    coveo.reset()
    coveo.set_faults({"seed": 8, "rules": rules})
    other_seed = push_statuses(coveo, 40)
    assert first == second
    assert set(first) == {202, 429}
    assert other_seed != first
    assert coveo.stats()["faultsInjected"] == other_seed.count(429)


def test_429_carries_retry_after_and_a_coveo_error_body(coveo: Coveo) -> None:
    coveo.set_faults({"seed": 1, "rules": [{"route": DOCUMENTS, "action": "429", "retryAfter": 2}]})
    response = coveo.put_item("file://x", BODY)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.json()["errorCode"] == "TOO_MANY_REQUESTS"
    assert coveo.item("file://x") is None  # throttled requests have no effect


@pytest.mark.parametrize(("action", "status"), [("500", 500), ("503", 503), ("504", 504)])
def test_server_errors(coveo: Coveo, action: str, status: int) -> None:
    coveo.set_faults({"rules": [{"route": "* /push/*", "action": action}]})
    response = coveo.put_item("file://x", BODY)
    assert response.status_code == status
    assert response.json()["message"]
    if action == "504":
        assert "errorCode" not in response.json()  # API Gateway's GatewayTimeoutError
    assert coveo.item("file://x") is None


def test_count_limits_how_often_a_rule_fires(coveo: Coveo) -> None:
    coveo.set_faults({"rules": [{"route": DOCUMENTS, "action": "503", "count": 2}]})
    assert push_statuses(coveo, 4) == [503, 503, 202, 202]
    rule = coveo.http.get("/_emulator/faults").json()["rules"][0]
    assert rule["fired"] == 2


def test_drop_closes_the_connection_without_an_answer(coveo: Coveo) -> None:
    coveo.set_faults({"rules": [{"route": DOCUMENTS, "action": "drop", "count": 1}]})
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
        httpx.put(
            f"{coveo.base_url}{coveo.source}/documents",
            params={"documentId": "file://dropped"},
            json=BODY,
            headers={"Authorization": "Bearer xx-emulator-local-key"},
        )
    assert coveo.item("file://dropped") is None
    assert coveo.put_item("file://after", BODY).status_code == 202  # the server is fine


def test_lose_answers_202_and_silently_drops_the_operation(coveo: Coveo) -> None:
    coveo.set_faults({"rules": [{"route": DOCUMENTS, "action": "lose", "count": 1}]})
    assert coveo.put_item("file://lost", BODY).status_code == 202
    assert coveo.put_item("file://kept", BODY).status_code == 202
    assert coveo.item("file://lost") is None
    assert coveo.logs("file://lost") == []
    assert coveo.found("file://kept")["indexed"] is True
    # a lost request still gets its synchronous checks
    assert coveo.put_item("file://lost", {"bad": {"sub": "object"}}).status_code == 400


def test_delay_answers_late(coveo: Coveo) -> None:
    coveo.set_faults({"rules": [{"route": DOCUMENTS, "action": "delay", "delaySeconds": 0.3}]})
    started = time.monotonic()
    assert coveo.put_item("file://slow", BODY).status_code == 202
    assert time.monotonic() - started >= 0.3
    assert coveo.found("file://slow")["indexed"] is True


def test_globs_match_templates_and_paths(coveo: Coveo) -> None:
    coveo.set_faults({"rules": [{"route": "* */providers/*", "action": "500"}]})
    assert coveo.put_identity({"identity": {"name": "a", "type": "USER"}}).status_code == 500
    assert coveo.put_item("file://x", BODY).status_code == 202
    coveo.set_faults({"rules": [{"route": "DELETE */documents", "action": "500"}]})
    assert coveo.delete_item("file://x").status_code == 500
    assert coveo.put_item("file://y", BODY).status_code == 202


def test_empty_rules_clear_and_bad_rules_are_400(coveo: Coveo) -> None:
    coveo.set_faults({"rules": [{"route": DOCUMENTS, "action": "500"}]})
    assert coveo.set_faults({"rules": []}).status_code == 200
    assert coveo.put_item("file://x", BODY).status_code == 202
    for bad in (
        {"rules": [{"route": DOCUMENTS, "action": "explode"}]},
        {"rules": [{"route": "no-method", "action": "500"}]},
        {"rules": [{"route": DOCUMENTS, "action": "500", "probability": 2}]},
        {"seed": "abc", "rules": []},
    ):
        response = coveo.set_faults(bad)
        assert response.status_code == 400
        assert response.json()["errorCode"] == "INVALID_FAULT_RULES"


def test_stats_count_by_route_template_not_control_routes(coveo: Coveo) -> None:
    coveo.put_item("file://a", BODY)
    coveo.put_item("file://b", BODY)
    coveo.delete_item("file://a")
    coveo.http.put(f"{coveo.source}/documents", json=BODY)  # a 412 is counted too
    coveo.state()
    coveo.http.get("/_emulator/faults")
    stats = coveo.stats()
    assert stats["total"] == 4
    assert stats["byRoute"] == {
        DOCUMENTS: 3,
        "DELETE /push/v1/organizations/{organizationId}/sources/{sourceId}/documents": 1,
    }
    assert stats["byStatus"] == {"202": 3, "412": 1}
    assert stats["bytesIn"] > 0
