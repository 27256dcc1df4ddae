"""Packing serialized operations into as few file containers as the size limit allows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Chunk:
    """One container's JSON document, e.g. `{"addOrUpdate":[...],"delete":[...]}`, and its counts."""

    body: bytes
    counts: dict[str, int] = field(default_factory=dict)


def _frame(section_names: Sequence[str], parts: dict[str, list[bytes]]) -> bytes:
    return (
        b"{"
        + b",".join(b'"' + name.encode() + b'":[' + b",".join(parts[name]) + b"]" for name in section_names)
        + b"}"
    )


def pack_sections(sections: Sequence[tuple[str, Sequence[bytes]]], limit: int) -> list[Chunk]:
    """Greedy, order-preserving packing of JSON elements into chunks of at most `limit` bytes.

    `sections` names the arrays of the document in order (e.g. addOrUpdate then delete) with their
    already-serialized elements. Every element must fit alone in an otherwise empty chunk; the caller
    checks that first and reports the element, so this function raises only on a caller bug.
    """
    names = [name for name, _ in sections]
    empty = len(_frame(names, {name: [] for name in names}))
    chunks: list[Chunk] = []
    parts: dict[str, list[bytes]] = {name: [] for name in names}
    size = empty
    count = 0
    for name, elements in sections:
        for element in elements:
            extra = len(element) + (1 if parts[name] else 0)  # a comma before all but the first
            if count and size + extra > limit:
                chunks.append(_finish(names, parts))
                parts = {n: [] for n in names}
                size, extra, count = empty, len(element), 0
            if size + extra > limit:
                raise ValueError(f"an element of {len(element)} bytes cannot fit a {limit}-byte container")
            parts[name].append(element)
            size += extra
            count += 1
    if count:
        chunks.append(_finish(names, parts))
    return chunks


def _finish(names: Sequence[str], parts: dict[str, list[bytes]]) -> Chunk:
    return Chunk(body=_frame(names, parts), counts={name: len(parts[name]) for name in names})


def framing_overhead(section_names: Sequence[str]) -> int:
    """Bytes of an empty document with these arrays: what one element must leave room for."""
    return len(_frame(section_names, {name: [] for name in section_names}))
