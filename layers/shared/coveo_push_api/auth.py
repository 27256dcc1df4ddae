"""Where the client gets its API key: a fixed string, or a source that can re-read a rotated key.

The client asks `current()` for the key on every request it sends, so a source that caches the key
for a while (a secret store, say) hands out a rotated key once its cache has aged. On a 401 the
client asks `refresh()` once: if that yields another key, the request is sent again with it.

Nothing here knows where a key is kept (no AWS): the connector brings a Secrets Manager source.
A source must never put the key in its `repr`, its exceptions or its logs.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .errors import CoveoError


@runtime_checkable
class ApiKeySource(Protocol):
    """The API key to authenticate with; may change while the client lives (a rotated key)."""

    def current(self) -> str:
        """The key to send now (the source may cache it)."""
        ...

    def refresh(self) -> str:
        """Read the key again now, bypassing any cache (Coveo answered 401 to `current()`'s key)."""
        ...


class StaticApiKey:
    """A key given as a string: it never changes, so `refresh()` gives the same key back."""

    __slots__ = ("_key",)

    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError("api_key is required")
        self._key = key

    def current(self) -> str:
        return self._key

    def refresh(self) -> str:
        return self._key

    def __repr__(self) -> str:  # never show the key
        return "StaticApiKey(<hidden>)"


class ApiKeyUnavailableError(CoveoError):
    """The key source could not give a key (its store unreachable, the key missing or empty).

    Retryable: nothing was sent, so the same request may succeed once the key can be read.
    """

    retryable = True
