"""Is item content what its compressionType says? Coveo only finds out after the 202.

Coveo answers 202 to any Base64 and rejects the item later, so a producer that compressed with
the wrong codec (or not at all) would learn it from the validator an hour on. Decoding here turns
that into a DLQ entry at once. The decoded bytes are thrown away as they come: memory stays at one
chunk whatever the content decompresses to.
"""

from __future__ import annotations

import lzma
import zlib

from coveo_push_api.models import CompressionType

# Decoding stops past this, so a decompression bomb costs bounded time; the emulator draws its
# line at the same size (a file container's).
MAX_DECOMPRESSED_BYTES = 256 * 1024 * 1024
_CHUNK = 1024 * 1024


def decode_problem(raw: bytes, compression: CompressionType) -> str | None:
    """Why `raw` is not valid `compression` data, or None when it decodes to its end."""
    if compression is CompressionType.UNCOMPRESSED:
        return None
    if compression is CompressionType.LZMA:
        return _lzma_problem(raw)
    if compression is CompressionType.DEFLATE:
        # Coveo takes raw deflate, and the zlib-wrapped deflate most libraries call deflate.
        if _zlib_problem(raw, -15, "DEFLATE") is None or _zlib_problem(raw, 15, "DEFLATE") is None:
            return None
        return "it is not valid DEFLATE data (raw or zlib-wrapped)"
    return _zlib_problem(raw, 31 if compression is CompressionType.GZIP else 15, compression.value)


def _zlib_problem(raw: bytes, wbits: int, name: str) -> str | None:
    decompressor = zlib.decompressobj(wbits)
    pending, produced = raw, 0
    try:
        while True:
            out = decompressor.decompress(pending, _CHUNK)
            produced += len(out)
            if produced > MAX_DECOMPRESSED_BYTES:
                return _too_large()
            if decompressor.eof:
                return None
            # Input it had no room to decode waits in unconsumed_tail; an empty call drains output.
            pending = decompressor.unconsumed_tail
            if not out and not pending:
                return f"the {name} stream is truncated"
    except zlib.error as error:
        return f"it is not valid {name} data ({error})"


def _lzma_problem(raw: bytes) -> str | None:
    decompressor = lzma.LZMADecompressor()
    pending, produced = raw, 0
    try:
        while True:
            out = decompressor.decompress(pending, _CHUNK)
            pending = b""  # the decompressor keeps what it has not decoded yet
            produced += len(out)
            if produced > MAX_DECOMPRESSED_BYTES:
                return _too_large()
            if decompressor.eof:
                return None
            if decompressor.needs_input:
                return "the LZMA stream is truncated"
    except lzma.LZMAError as error:
        return f"it is not valid LZMA data ({error})"


def _too_large() -> str:
    return f"it decompresses to more than {MAX_DECOMPRESSED_BYTES // (1024 * 1024)} MB"
