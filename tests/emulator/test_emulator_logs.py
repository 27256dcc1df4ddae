"""Source Logs API: window, filters, documentId matching, paging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.emulator.emulator_helpers import PUBLIC, SOURCE, Coveo

BODY = {"title": "t", "data": "d", "permissions": PUBLIC}


def guids(entries: list[dict[str, object]]) -> list[object]:
    return [e["guid"] for e in entries]  # requestId differs per Logs API call; guid identifies an entry


@pytest.fixture
def logged(coveo: Coveo) -> Coveo:
    for name in ("alpha/one.txt", "alpha/two.txt", "beta/one.txt"):
        assert coveo.put_item(f"file://{name}", BODY).status_code == 202
    coveo.delete_item("file://alpha/two.txt")
    coveo.put_item("file://alpha/one.txt", BODY, orderingId=1)  # stale: SKIPPED
    return coveo


def test_window_over_7_days_is_400(coveo: Coveo) -> None:
    now = datetime.now(UTC)
    too_wide = coveo.logs_response(start=now - timedelta(days=7, seconds=1), end=now)
    assert too_wide.status_code == 400
    assert too_wide.json()["errorCode"] == "INVALID_PARAMETER"
    assert coveo.logs_response(start=now - timedelta(days=7), end=now).status_code == 200
    backwards = coveo.logs_response(start=now, end=now - timedelta(hours=1))
    assert backwards.status_code == 400
    missing = coveo.http.post(f"/logs/v1/organizations/{coveo.push.rsplit('/', 1)[-1]}", json={})
    assert missing.status_code == 400


def test_entries_outside_the_window_are_not_returned(logged: Coveo) -> None:
    past = datetime.now(UTC) - timedelta(days=5)
    response = logged.logs_response(start=past - timedelta(days=1), end=past)
    assert response.json() == {"documentLogEntries": [], "hasNextPage": False}


def test_entry_shape(logged: Coveo) -> None:
    entry = logged.logs("file://beta/one.txt")[-1]
    assert set(entry) == {
        "datetime",
        "guid",
        "id",
        "meta",
        "operation",
        "organizationId",
        "requestId",
        "resourceId",
        "result",
        "sourceId",
        "task",
    }
    assert entry["sourceId"] == SOURCE
    assert entry["datetime"].endswith("Z") and "T" in entry["datetime"]
    assert (entry["operation"], entry["task"], entry["result"]) == ("ADD", "INDEXING", "COMPLETED")


def test_document_id_matching(logged: Coveo) -> None:
    exact = {e["id"] for e in logged.logs("file://alpha/one.txt")}
    assert exact == {"file://alpha/one.txt"}
    partial = {e["id"] for e in logged.logs("alpha/", documentIdMatching="PARTIAL")}
    assert partial == {"file://alpha/one.txt", "file://alpha/two.txt"}
    wildcard = {e["id"] for e in logged.logs("file://*/one.txt", documentIdMatching="WILDCARD")}
    assert wildcard == {"file://alpha/one.txt", "file://beta/one.txt"}
    single = {e["id"] for e in logged.logs("file://alpha/???.txt", documentIdMatching="WILDCARD")}
    assert single == {"file://alpha/one.txt", "file://alpha/two.txt"}
    assert logged.logs_response(documentId="x", documentIdMatching="FUZZY").status_code == 400


def test_include_and_exclude_filters(logged: Coveo) -> None:
    deletes = logged.logs(body={"operations": ["DELETE"]})
    assert {e["id"] for e in deletes} == {"file://alpha/two.txt"}
    skipped = logged.logs(body={"results": ["SKIPPED"]})
    assert [(e["id"], e["task"]) for e in skipped] == [("file://alpha/one.txt", "CONSUMING")]
    not_completed = logged.logs(body={"excludeResults": ["COMPLETED"]})
    assert guids(not_completed) == guids(skipped)
    # an include list has priority over the exclude list
    assert guids(logged.logs(body={"results": ["SKIPPED"], "excludeResults": ["SKIPPED"]})) == guids(skipped)
    indexing = logged.logs(body={"tasks": ["INDEXING"], "operations": ["ADD"]})
    assert len(indexing) == 3
    assert logged.logs_response({"results": ["NOPE"]}).status_code == 400


def test_source_filter_accepts_sourcesids_and_sourceids(logged: Coveo) -> None:
    everything = logged.logs()
    assert guids(logged.logs(body={"sourcesIds": [SOURCE]})) == guids(everything)
    assert guids(logged.logs(body={"sourceIds": [SOURCE]})) == guids(everything)
    assert logged.logs(body={"sourcesIds": ["another-source"]}) == []
    assert logged.logs(body={"excludeSourceIds": [SOURCE]}) == []


def test_paging_with_has_next_page(logged: Coveo) -> None:
    everything = logged.logs()
    assert len(everything) > 5
    seen = []
    page = 0
    while True:
        payload = logged.logs_response(page=page, perPage=5).json()
        seen += payload["documentLogEntries"]
        assert len(payload["documentLogEntries"]) <= 5
        if not payload["hasNextPage"]:
            break
        page += 1
    assert guids(seen) == guids(everything)
    assert page == (len(everything) - 1) // 5
    assert logged.logs_response(page=page + 1, perPage=5).json()["documentLogEntries"] == []
    # entries come back in chronological order
    assert [e["datetime"] for e in everything] == sorted(e["datetime"] for e in everything)


def test_retention_is_14_days(logged: Coveo) -> None:
    logged.advance(15 * 86400)
    now = datetime.now(UTC) + timedelta(days=15)
    assert logged.logs_response(start=now - timedelta(days=7), end=now).json()["documentLogEntries"] == []
    old = logged.logs_response(start=now - timedelta(days=16), end=now - timedelta(days=9)).json()
    assert old["documentLogEntries"] == []


def test_facets_stats(logged: Coveo) -> None:
    now = datetime.now(UTC)
    response = logged.http.post(
        f"/logs/v1/organizations/{logged.push.rsplit('/', 1)[-1]}/facetsStats",
        params={"from": (now - timedelta(days=1)).isoformat(), "to": (now + timedelta(days=1)).isoformat()},
        json={"tasks": ["INDEXING"]},
    )
    assert response.status_code == 200
    assert response.json()["results"] == {"COMPLETED": 4}
    assert response.json()["operations"] == {"ADD": 3, "DELETE": 1}
