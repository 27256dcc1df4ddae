"""A scripted httpx transport that records every request, for asserting what goes on the wire."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

Responder = Callable[[httpx.Request], httpx.Response]


@dataclass
class Wire:
    """Answers requests from a script (a list of responses or responders, used in order) or a default."""

    script: list[httpx.Response | Responder | Exception] = field(default_factory=list)
    default: Responder = field(default=lambda request: httpx.Response(202))
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if self.script:
            step = self.script.pop(0)
            if isinstance(step, Exception):
                raise step
            return step(request) if callable(step) else step
        return self.default(request)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self), headers={"User-Agent": "test"})

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) if r.content else None for r in self.requests]

    def lines(self) -> list[str]:
        """`METHOD path?query` for each request, query in the order it was sent."""
        return [f"{r.method} {r.url.raw_path.decode()}" for r in self.requests]


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=payload, headers=headers)
