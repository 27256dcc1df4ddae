"""Defence in depth: an indexed item that lets anonymous users in, although its event never said
`"allowAnonymous": true`, is a security finding of the validator, whatever let it through."""

from __future__ import annotations

import json
import zlib
from dataclasses import replace
from typing import Any

import pytest

from connector.domain.policy import declared_public
from connector.domain.stored_change import declared_public_in
from coveo_push_api.models import DocumentPermissionModel
from tests import worked_example as wx

from .test_validator import T0, Clock, FakeReader, entry, item_event, pushed, setup


class IndexedAnonymous(FakeReader):
    """The index holds the item with a permission set open to anonymous users."""

    def get_item_permissions(self, index_id: str, document_id: str) -> DocumentPermissionModel:
        self.requests_sent += 1
        return DocumentPermissionModel.model_validate(
            {
                "state": "VALID",
                "permissionLevels": [{"permissionSets": [{"anonymousAllowed": True, "permissions": []}]}],
            }
        )


def run(event: dict[str, Any], reader: FakeReader, *, allow_public: bool = False) -> Any:
    clock = Clock(T0)
    _, pipeline, _, validator = setup(clock)
    validator.coveo = reader
    validator.settings = replace(validator.settings, allow_public_items=allow_public)
    if allow_public:
        pipeline.settings = replace(pipeline.settings, allow_public_items=True)
    pushed(pipeline, event)
    clock.now = T0 + 60_000
    reader.entries = [entry(event["data"]["documentId"], "INDEXING", "COMPLETED", T0 + 1_000)]
    return validator.run()


def test_an_item_public_in_the_index_but_not_in_its_event_is_a_security_finding() -> None:
    report = run(item_event("file://a"), IndexedAnonymous())
    assert report.unexpected_public == 1
    assert any(
        w.security and w.text.startswith("SECURITY: file://a lets anonymous users in")
        for w in report.warnings
    )


def test_an_item_whose_event_said_public_is_not_flagged() -> None:
    event = item_event("file://a")
    event["data"]["document"] = {"data": "x", "permissions": [{"allowAnonymous": True}]}
    assert run(event, IndexedAnonymous()).unexpected_public == 0


def test_a_secured_item_indexed_secured_is_not_flagged() -> None:
    assert run(item_event("file://a"), FakeReader()).unexpected_public == 0


def test_a_deployment_that_allows_public_items_is_not_flagged() -> None:
    event = item_event("file://a")
    event["data"]["document"] = {"data": "x"}  # public by the deployment's choice
    assert run(event, IndexedAnonymous(), allow_public=True).unexpected_public == 0


@pytest.mark.parametrize(
    ("permissions", "declared"),
    [
        ([{"allowAnonymous": True}], True),
        ([{"allowAnonymous": "true"}], False),
        ([{"allowAnonymous": 1}], False),
        ([{"allowAnonymous": False, "allowedPermissions": []}], False),
        ([{"permissionSets": [{"allowAnonymous": True}]}], True),
        ([{"name": "level", "permissionSets": [{"allowAnonymous": False}]}], False),
        (None, False),
        ("public", False),
    ],
)
def test_declared_public_means_the_json_literal_true(permissions: Any, declared: bool) -> None:
    data = {"documentId": wx.DOCUMENT_ID, "document": {"data": "x", "permissions": permissions}}
    assert declared_public(data) is declared


def test_an_item_with_nothing_readable_stored_is_never_taken_as_declared_public() -> None:
    assert declared_public_in(None) is False  # no ledger row: something else pushed it
    assert declared_public_in(zlib.compress(b'{"data": 1, "data": 2}')) is False
    public = {
        "id": "e",
        "type": "item.upserted",
        "version": 1,
        "data": {"document": {"permissions": [{"allowAnonymous": True}]}},
    }
    assert declared_public_in(zlib.compress(json.dumps(public).encode())) is True
    without_id = {key: value for key, value in public.items() if key != "id"}
    assert declared_public_in(zlib.compress(json.dumps(without_id).encode())) is False
    assert declared_public_in(b"not zlib") is False
