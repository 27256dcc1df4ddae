"""The Coveo wire models: what they accept, what they refuse (with a reason), what they send."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pydantic import ValidationError

from coveo_push_api.models import (
    BaseIdentityBody,
    CompressionType,
    Identity,
    IdentityBatchBody,
    IdentityBody,
    IdentityType,
    ItemBatchBody,
    ItemBody,
    LogEntry,
    LogsRequest,
    LogsResponse,
    MappedIdentityBody,
    PermissionLevel,
    PermissionSet,
    count_permissions,
    parse_permission_model,
)
from tests import worked_example as wx


def refused(raw: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        ItemBody.from_wire(raw)
    return str(info.value)


class TestItemMetadata:
    def test_worked_example_round_trips_to_the_same_wire_body(self) -> None:
        raw = wx.item_wire()
        item = ItemBody.from_wire(raw)
        assert item.to_wire() == raw
        assert item.metadata == {"author": "Alice Smith", "title": "My text"}

    @pytest.mark.parametrize("value", ["text", 42, 4.5, True, ["a", "b"], [1, 2.5, False], []])
    def test_primitives_and_flat_arrays_are_metadata(self, value: Any) -> None:
        assert ItemBody.from_wire({"data": "x", "tags": value}).metadata == {"tags": value}

    def test_sub_object_is_refused_by_name(self) -> None:
        assert "metadata 'owner' is an object" in refused({"data": "x", "owner": {"name": "a"}})

    def test_nested_array_is_refused(self) -> None:
        assert "metadata 'matrix' is a nested array" in refused({"data": "x", "matrix": [[1, 2]]})

    def test_array_holding_an_object_is_refused(self) -> None:
        assert "metadata 'people' holds an object" in refused({"data": "x", "people": [{"a": 1}]})

    def test_null_metadata_is_refused(self) -> None:
        assert "metadata 'summary' is null" in refused({"data": "x", "summary": None})

    @pytest.mark.parametrize(
        "key", ["Data", "DATA", "Permissions", "parentid", "FILEEXTENSION", "DocumentID"]
    )
    def test_reserved_name_in_any_casing_is_refused(self, key: str) -> None:
        message = refused({"compressedBinaryDataFileId": "f", key: "v"})
        assert "reserved key" in message
        assert repr(key) in message

    def test_ordering_id_in_the_body_is_refused_with_advice(self) -> None:
        assert "pass it as the operation's ordering id" in refused({"data": "x", "orderingId": 5})

    def test_keys_differing_only_in_case_are_one_key(self) -> None:
        assert "case-insensitive" in refused({"data": "x", "Title": "a", "title": "b"})

    def test_python_field_names_stay_metadata_on_the_wire(self) -> None:
        # `parent_id` is not `parentId`: from the wire it must remain a metadata key.
        item = ItemBody.from_wire({"data": "x", "parent_id": "p"})
        assert item.parent_id is None
        assert item.metadata == {"parent_id": "p"}


class TestItemContent:
    def test_exactly_one_content_property(self) -> None:
        assert "(got none)" in refused({"title": "no content"})
        assert "(got data and compressedBinaryData)" in refused(
            {"data": "x", "compressedBinaryData": base64.b64encode(b"x").decode()}
        )

    def test_compressed_binary_data_must_be_base64(self) -> None:
        assert "Base64" in refused({"compressedBinaryData": "not base64!!", "compressionType": "ZLIB"})

    def test_compression_type_casing_is_normalised(self) -> None:
        item = ItemBody.from_wire({"compressedBinaryData": "eJzLSM3JyQcABiwCFQ==", "compressionType": "ZLib"})
        assert item.compression_type is CompressionType.ZLIB
        assert item.to_wire()["compressionType"] == "ZLIB"

    def test_compression_type_on_plain_data_is_refused(self) -> None:
        assert "compressionType applies to compressedBinaryData" in refused(
            {"data": "x", "compressionType": "GZIP"}
        )

    @pytest.mark.parametrize("extension", ["txt", ".", "html."])
    def test_file_extension_needs_a_leading_dot(self, extension: str) -> None:
        assert "must start with a dot" in refused({"data": "x", "fileExtension": extension})

    def test_inline_size_counts_bytes_as_sent(self) -> None:
        assert ItemBody.from_wire({"data": "é" * 10}).inline_data_size() == 20


class TestPermissions:
    def test_simple_model_is_a_list_of_sets(self) -> None:
        model = parse_permission_model(wx.item_wire()["permissions"])
        assert all(isinstance(s, PermissionSet) for s in model)
        assert count_permissions(model) == 2

    def test_complete_model_is_a_list_of_levels(self) -> None:
        model = parse_permission_model(
            [
                {
                    "name": "L1",
                    "permissionSets": [{"allowedPermissions": [{"identity": "a", "identityType": "User"}]}],
                },
                {"name": "L2", "permissionSets": [{"allowAnonymous": True}]},
            ]
        )
        assert [type(level) for level in model] == [PermissionLevel, PermissionLevel]
        assert count_permissions(model) == 1

    def test_mixing_levels_and_sets_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="mix permission levels"):
            parse_permission_model([{"permissionSets": [{}]}, {"allowAnonymous": True}])

    @pytest.mark.parametrize(
        ("spelling", "sent"),
        [
            ("USER", "User"),
            ("User", "User"),
            ("GROUP", "Group"),
            ("VIRTUAL_GROUP", "VirtualGroup"),
            ("VirtualGroup", "VirtualGroup"),
            ("unknown", "Unknown"),
        ],
    )
    def test_identity_type_spellings_are_accepted_and_sent_as_the_spec_spells_them(
        self, spelling: str, sent: str
    ) -> None:
        item = ItemBody.from_wire(
            {
                "data": "x",
                "permissions": [{"allowedPermissions": [{"identity": "a", "identityType": spelling}]}],
            }
        )
        assert item.to_wire()["permissions"][0]["allowedPermissions"][0]["identityType"] == sent

    def test_unknown_identity_type_is_refused(self) -> None:
        message = refused(
            {
                "data": "x",
                "permissions": [{"allowedPermissions": [{"identity": "a", "identityType": "Robot"}]}],
            }
        )
        assert "unknown identityType 'Robot'" in message

    def test_allow_anonymous_must_be_a_boolean(self) -> None:
        assert "allowAnonymous" in refused({"data": "x", "permissions": [{"allowAnonymous": "maybe"}]})

    def test_public_only_when_every_set_is_anonymous(self) -> None:
        public = ItemBody.from_wire({"data": "x", "permissions": [{"allowAnonymous": True}]})
        secured = ItemBody.from_wire(wx.item_wire())
        half = ItemBody.from_wire(
            {"data": "x", "permissions": [{"allowAnonymous": True}, {"allowAnonymous": False}]}
        )
        assert (public.is_public(), secured.is_public(), half.is_public()) == (True, False, False)
        assert ItemBody.from_wire({"data": "x"}).is_public() is False


class TestIdentities:
    def test_worked_example_group_and_alias(self) -> None:
        group = IdentityBody.model_validate(wx.group_wire())
        alias = MappedIdentityBody.model_validate(wx.alias_wire("alice"))
        assert group.to_wire() == {
            "identity": {"name": "AlphaTeam", "type": "GROUP", "additionalInfo": {}},
            "members": [{"name": n, "type": "USER", "additionalInfo": {}} for n in wx.MEMBERS],
        }
        assert alias.to_wire()["mappings"] == [
            {"name": "alice@example.com", "type": "USER", "provider": wx.EMAIL_PROVIDER, "additionalInfo": {}}
        ]

    @pytest.mark.parametrize(
        ("spelling", "expected"),
        [
            ("user", IdentityType.USER),
            ("Group", IdentityType.GROUP),
            ("VirtualGroup", IdentityType.VIRTUAL_GROUP),
            ("VIRTUAL_GROUP", IdentityType.VIRTUAL_GROUP),
        ],
    )
    def test_identity_type_spellings(self, spelling: str, expected: IdentityType) -> None:
        assert Identity.model_validate({"name": "n", "type": spelling}).type is expected

    def test_blank_name_and_unknown_type_are_refused(self) -> None:
        with pytest.raises(ValidationError, match="must not be blank"):
            Identity.model_validate({"name": "  ", "type": "USER"})
        with pytest.raises(ValidationError, match="unknown identity type 'ROBOT'"):
            Identity.model_validate({"name": "n", "type": "ROBOT"})

    def test_misspelt_key_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="member"):
            IdentityBody.model_validate({"identity": {"name": "g", "type": "GROUP"}, "member": []})

    def test_duplicate_member_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="listed twice"):
            IdentityBody.model_validate(
                {"identity": {"name": "g", "type": "GROUP"}, "members": [{"name": "a", "type": "USER"}] * 2}
            )

    def test_alias_needs_a_mapping(self) -> None:
        with pytest.raises(ValidationError, match="mappings"):
            MappedIdentityBody.model_validate({"identity": {"name": "a", "type": "USER"}, "mappings": []})

    def test_identity_batch_body_shape(self) -> None:
        batch = IdentityBatchBody(
            members=[IdentityBody.model_validate(wx.group_wire())],
            mappings=[MappedIdentityBody.model_validate(wx.alias_wire(m)) for m in wx.MEMBERS],
            deleted=[BaseIdentityBody.model_validate({"identity": {"name": "old", "type": "GROUP"}})],
        )
        wire = batch.to_wire()
        assert list(wire) == ["members", "mappings", "deleted"]
        assert wire["deleted"] == [{"identity": {"name": "old", "type": "GROUP", "additionalInfo": {}}}]


class TestBatchesAndReads:
    def test_batch_items_need_a_document_id(self) -> None:
        with pytest.raises(ValidationError, match=r"addOrUpdate\[0\] has no documentId"):
            ItemBatchBody.model_validate({"addOrUpdate": [{"data": "x"}]})

    def test_item_batch_wire_shape(self) -> None:
        batch = ItemBatchBody.model_validate(
            {
                "addOrUpdate": [{**wx.item_wire(), "documentId": wx.DOCUMENT_ID}],
                "delete": [{"documentId": "file://old", "deleteChildren": True}],
            }
        )
        wire = batch.to_wire()
        assert wire["delete"] == [{"documentId": "file://old", "deleteChildren": True}]
        assert wire["addOrUpdate"][0]["documentId"] == wx.DOCUMENT_ID

    def test_logs_request_uses_the_spec_spelling_sourcesIds(self) -> None:
        assert LogsRequest(sources_ids=["s"], results=["ERROR"]).to_wire() == {  # type: ignore[list-item]
            "sourcesIds": ["s"],
            "results": ["ERROR"],
        }

    def test_logs_response_and_reason(self) -> None:
        response = LogsResponse.model_validate(
            {
                "documentLogEntries": [
                    {
                        "datetime": "2026-11-26T10:00:00.000Z",
                        "id": wx.DOCUMENT_ID,
                        "task": "INDEXING",
                        "result": "REJECTED",
                        "meta": {"error": "unknown security identity AlphaTeam"},
                        "someNewField": 1,
                    }
                ],
                "hasNextPage": True,
            }
        )
        entry: LogEntry = response.document_log_entries[0]
        assert response.has_next_page
        assert entry.reason() == "unknown security identity AlphaTeam"
