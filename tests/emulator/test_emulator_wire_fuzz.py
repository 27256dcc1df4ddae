"""Whatever JSON a client sends, the parsers answer with a model or a WireError (never a 500)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from coveo_emulator import wire

KEYS = st.sampled_from(
    ["documentId", "DocumentId", "data", "Data", "permissions", "Permissions", "title", "orderingId", "parentId",
     "compressionType", "compressedBinaryData", "fileExtension", "identity", "Identity", "name", "type", "members",
     "mappings", "wellKnowns", "allowedPermissions", "deniedPermissions", "allowAnonymous", "permissionSets",
     "identityType", "securityProvider", "additionalInfo", "provider", "Result", "result"]
)  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(KEYS | st.text(max_size=5), children, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=120, deadline=None)
@given(JSON)
def test_document_parser_never_crashes(body: Any) -> None:
    try:
        doc = wire.parse_document(
            body, default_provider="p", max_inline_bytes=100, query_document_id="file://x"
        )
    except wire.WireError as exc:
        assert exc.message and exc.status in (400, 412, 413)
    else:
        assert doc.document_id == "file://x"
        assert all(not isinstance(v, dict) for v in doc.metadata.values())


@settings(max_examples=120, deadline=None)
@given(JSON, st.sampled_from(["identity", "mapping", "delete"]))
def test_identity_parser_never_crashes(body: Any, kind: str) -> None:
    try:
        parsed = wire.parse_identity_body(body, kind)
    except wire.WireError as exc:
        assert exc.message
    else:
        assert parsed.identity.type in wire.IDENTITY_TYPES
