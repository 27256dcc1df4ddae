"""PUT /_emulator/api-key: rotating the key the emulated organization accepts (issue 15)."""

from __future__ import annotations

import httpx

from tests.emulator.emulator_helpers import API_KEY, Coveo, item_body

NEW_KEY = "xx-rotated-key-3e9a71"


def put_item(coveo: Coveo, key: str) -> httpx.Response:
    return httpx.put(
        f"{coveo.base_url}{coveo.source}/documents",
        params={"documentId": "file://rotation"},
        json=item_body(),
        headers={"Authorization": f"Bearer {key}"},
    )


def rotate(coveo: Coveo, body: object) -> httpx.Response:
    # A control route: no Authorization needed (the helper's client sends the old key anyway).
    return httpx.put(f"{coveo.base_url}/_emulator/api-key", json=body)


def test_after_a_rotation_only_the_new_key_is_accepted(coveo: Coveo) -> None:
    assert put_item(coveo, API_KEY).status_code == 202
    response = rotate(coveo, {"apiKey": NEW_KEY})
    assert response.status_code == 200
    assert NEW_KEY not in response.text  # the answer does not repeat the key
    refused = put_item(coveo, API_KEY)
    assert (refused.status_code, refused.json()["errorCode"]) == (401, "INVALID_TOKEN")
    assert put_item(coveo, NEW_KEY).status_code == 202
    # The refused request is counted like any other answer.
    assert coveo.stats()["byStatus"] == {"202": 2, "401": 1}


def test_reset_restores_the_configured_key(coveo: Coveo) -> None:
    assert rotate(coveo, {"apiKey": NEW_KEY}).status_code == 200
    coveo.reset()
    assert put_item(coveo, API_KEY).status_code == 202
    assert put_item(coveo, NEW_KEY).status_code == 401


def test_a_rotation_keeps_what_the_organization_holds(coveo: Coveo) -> None:
    assert put_item(coveo, API_KEY).status_code == 202
    rotate(coveo, {"apiKey": NEW_KEY})
    assert coveo.state()["items"]["file://rotation"]["indexed"]


def test_a_key_that_is_not_a_usable_string_is_refused(coveo: Coveo) -> None:
    for body in ({}, {"apiKey": ""}, {"apiKey": 7}, {"apiKey": " padded "}, {"apiKey": None}):
        response = rotate(coveo, body)
        assert (response.status_code, response.json()["errorCode"]) == (400, "INVALID_PARAMETER"), body
    assert put_item(coveo, API_KEY).status_code == 202  # the key did not change
