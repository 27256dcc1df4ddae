"""Per-request helpers shared by the route handlers: auth, addressing, parameters, bodies."""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from coveo_emulator import errors
from coveo_emulator.core import Emulator
from coveo_emulator.processing import Operation

INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1
# An integer as Java parses one (Long.parseLong): an optional sign and ASCII digits; Python's int()
# would also take spaces, underscores and other scripts' digits.
_INTEGER = re.compile(r"[+-]?[0-9]+\Z")


@dataclass(slots=True)
class Call:
    request: Request
    emu: Emulator
    received_ms: int
    lose: bool = False  # fault "lose": answer as usual, never apply

    def enqueue(self, op: Operation, extra_delay_ms: int = 0) -> None:
        if not self.lose:
            self.emu.pipeline.enqueue(op, self.received_ms, extra_delay_ms)

    @property
    def params(self) -> dict[str, str]:
        return self.request.path_params

    def query(self, name: str) -> str | None:
        return self.request.query_params.get(name)


def accepted() -> Response:
    return Response(b"{}", status_code=202, media_type="application/json")


def check_auth(call: Call) -> None:
    header = call.request.headers.get("authorization")
    if not header:
        raise errors.unauthorized()
    if header != call.emu.expected_authorization:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or token.strip() != call.emu.api_key:
            raise errors.invalid_token()


def check_org(call: Call) -> None:
    check_auth(call)
    org = call.params["organizationId"]
    if org != call.emu.config.organization_id:
        raise errors.organization_not_found(org)


def check_source(call: Call) -> None:
    check_org(call)
    source = call.params["sourceId"]
    if source != call.emu.config.source_id:
        raise errors.source_not_found(source)


def check_provider(call: Call) -> str:
    check_org(call)
    provider = call.params["providerId"]
    if provider != call.emu.config.provider_id:
        raise errors.provider_not_found(provider)
    return provider


def ordering_id(call: Call, required: bool = False) -> int:
    """orderingId query parameter; by default, the time of receipt in ms (DOC-147)."""
    raw = call.query("orderingId")
    if raw is None or raw == "":
        if required:
            raise errors.missing_parameter("orderingId")
        return call.received_ms
    if not _INTEGER.match(raw):
        raise errors.invalid_parameter("orderingId", f"{raw!r} is not a 64-bit integer")
    value = int(raw)
    if not 0 <= value <= INT64_MAX:
        raise errors.invalid_parameter("orderingId", f"{raw!r} is not a positive 64-bit integer")
    return value


def queue_delay_ms(call: Call) -> int:
    """queueDelay in minutes: int32, minimum 0, default 15 (SPEC-PUSH deleteDocumentsOlderThan,
    deleteIdentityOlderThan); a wrong value is 412 INVALID_PARAMETER (reference §5)."""
    raw = call.query("queueDelay")
    if raw is None or raw == "":
        return call.emu.config.default_queue_delay_minutes * 60_000
    if not _INTEGER.match(raw):
        raise errors.invalid_parameter("queueDelay", f"{raw!r} is not an integer number of minutes")
    minutes = int(raw)
    if minutes < 0:
        raise errors.invalid_parameter("queueDelay", "must be >= 0")
    if minutes > INT32_MAX:
        raise errors.invalid_parameter("queueDelay", f"{raw!r} is not a 32-bit integer")
    return minutes * 60_000


def boolean(call: Call, name: str, default: bool = False) -> bool:
    raw = call.query(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise errors.invalid_parameter(name, f"{raw!r} is not a boolean")


def required(call: Call, name: str) -> str:
    value = call.query(name)
    if not value:
        raise errors.missing_parameter(name)
    return value


def check_json_content_type(call: Call) -> None:
    content_type = call.request.headers.get("content-type")
    if content_type and not content_type.lower().startswith("application/json"):
        raise errors.unsupported_media_type(content_type)


async def read_body(call: Call, limit: int) -> bytes:
    """The request body, or 413 when it is over ``limit`` (the body is drained, not kept, so the
    client reads the 413 instead of a reset connection)."""
    size = 0
    chunks: list[bytes] = []
    too_big = False
    declared = call.request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        too_big = True
    async for chunk in call.request.stream():
        size += len(chunk)
        if size > limit:
            too_big = True
        if not too_big:
            chunks.append(chunk)
    call.emu.stats.bytes_in += size
    if too_big:
        raise errors.too_large(
            f"The request is {size} bytes; the Push API accepts at most {limit} bytes per request."
        )
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
