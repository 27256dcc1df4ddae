"""Content that is not what its compressionType says is refused before Coveo sees it."""

from __future__ import annotations

import base64
import gzip
import lzma
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.domain import compression
from connector.domain.compression import decode_problem
from connector.domain.errors import RefusedChange
from connector.domain.policy import check_item
from coveo_push_api.models import CompressionType, ItemBody

TEXT = b"The quick brown fox jumps over the lazy dog. " * 2_000


def raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-15)
    return packer.compress(data) + packer.flush()


ENCODED = {
    CompressionType.ZLIB: zlib.compress(TEXT),
    CompressionType.GZIP: gzip.compress(TEXT),
    CompressionType.LZMA: lzma.compress(TEXT),
    CompressionType.DEFLATE: raw_deflate(TEXT),
    CompressionType.UNCOMPRESSED: TEXT,
}


@pytest.mark.parametrize("codec", list(ENCODED))
def test_content_encoded_as_stated_passes(codec: CompressionType) -> None:
    assert decode_problem(ENCODED[codec], codec) is None


@given(content=st.binary(max_size=4096), level=st.integers(0, 9))
def test_whatever_the_content_its_own_encoding_passes(content: bytes, level: int) -> None:
    assert decode_problem(zlib.compress(content, level), CompressionType.ZLIB) is None
    assert decode_problem(gzip.compress(content, level), CompressionType.GZIP) is None
    assert decode_problem(lzma.compress(content), CompressionType.LZMA) is None
    assert decode_problem(raw_deflate(content), CompressionType.DEFLATE) is None


def test_zlib_wrapped_deflate_is_deflate_too() -> None:
    assert decode_problem(zlib.compress(TEXT), CompressionType.DEFLATE) is None


@pytest.mark.parametrize(
    ("codec", "content", "problem"),
    [
        (
            CompressionType.ZLIB,
            gzip.compress(TEXT),
            "it is not valid ZLIB data (Error -3 while decompressing data: incorrect header check)",
        ),
        (
            CompressionType.GZIP,
            zlib.compress(TEXT),
            "it is not valid GZIP data (Error -3 while decompressing data: incorrect header check)",
        ),
        (
            CompressionType.LZMA,
            b"plain text",
            "it is not valid LZMA data (Input format not supported by decoder)",
        ),
        (CompressionType.DEFLATE, b"\xff" * 40, "it is not valid DEFLATE data (raw or zlib-wrapped)"),
        (CompressionType.ZLIB, zlib.compress(TEXT)[:-30], "the ZLIB stream is truncated"),
        (CompressionType.LZMA, lzma.compress(TEXT)[:-30], "the LZMA stream is truncated"),
        (CompressionType.GZIP, b"", "the GZIP stream is truncated"),
    ],
)
def test_content_not_encoded_as_stated_says_why(codec: CompressionType, content: bytes, problem: str) -> None:
    assert decode_problem(content, codec) == problem


def test_a_decompression_bomb_is_refused_without_holding_its_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compression, "MAX_DECOMPRESSED_BYTES", 8 * 1024 * 1024)
    bomb = zlib.compress(b"\0" * (9 * 1024 * 1024), 9)  # 9 MB of zeros in ~9 KB
    assert decode_problem(bomb, CompressionType.ZLIB) == "it decompresses to more than 8 MB"
    assert decode_problem(lzma.compress(b"\0" * (9 * 1024 * 1024)), CompressionType.LZMA) == (
        "it decompresses to more than 8 MB"
    )


def item(content: bytes, compression_type: str | None) -> ItemBody:
    wire: dict[str, object] = {
        "compressedBinaryData": base64.b64encode(content).decode(),
        "permissions": [{"allowAnonymous": True}],
    }
    if compression_type is not None:
        wire["compressionType"] = compression_type
    return ItemBody.from_wire(wire)


def test_the_policy_refuses_inline_content_with_a_reason_that_says_what_to_do() -> None:
    with pytest.raises(RefusedChange) as refused:
        check_item("file://a", item(gzip.compress(TEXT), "ZLIB"), allow_public=True, max_permissions=5_000)
    assert refused.value.reason == (
        "item 'file://a': compressionType says ZLIB but it is not valid ZLIB data (Error -3 while "
        "decompressing data: incorrect header check); compress the content that way, or set "
        "compressionType to how it is encoded"
    )


def test_without_compression_type_the_content_must_be_zlib_as_coveo_assumes() -> None:
    check_item("file://a", item(zlib.compress(TEXT), None), allow_public=True, max_permissions=5_000)
    with pytest.raises(RefusedChange, match="compressionType defaults to ZLIB but"):
        check_item("file://a", item(TEXT, None), allow_public=True, max_permissions=5_000)


def test_a_public_item_is_checked_too() -> None:
    body = ItemBody.from_wire(
        {"compressedBinaryData": base64.b64encode(TEXT).decode(), "compressionType": "GZIP"}
    )
    with pytest.raises(RefusedChange, match="compressionType says GZIP but it is not valid GZIP data"):
        check_item("file://public", body, allow_public=True, max_permissions=5_000)
