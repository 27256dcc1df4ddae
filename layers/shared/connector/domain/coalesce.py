"""Several changes to one thing in a batch become the newest one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from .events import Change

T = TypeVar("T")


@dataclass(frozen=True)
class Coalesced(Generic[T]):
    winners: list[tuple[T, Change]]  # the newest change per key, with its message
    superseded: list[
        tuple[T, Change, Change]
    ]  # an older (or duplicate) change, its message, and its successor


def coalesce(changes: Iterable[tuple[T, Change]]) -> Coalesced[T]:
    """Keep the highest version per key; on a tie the first delivered wins (the others are duplicates).

    Winners keep their first-seen order so a batch is pushed in delivery order.
    """
    best: dict[str, tuple[T, Change]] = {}
    order: list[str] = []
    losers: list[tuple[T, Change]] = []
    for message, change in changes:
        current = best.get(change.key)
        if current is None:
            best[change.key] = (message, change)
            order.append(change.key)
        elif change.version > current[1].version:
            losers.append(current)
            best[change.key] = (message, change)
        else:
            losers.append((message, change))
    return Coalesced(
        winners=[best[key] for key in order],
        superseded=[(message, change, best[change.key][1]) for message, change in losers],
    )
