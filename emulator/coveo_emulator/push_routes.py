"""Push API routes (reference §2) and the S3-like upload endpoint of file containers.

Each handler does what the real service does synchronously (auth, addressing, parameters, body
shape, size gates) and queues the rest; see processing.py for what happens after the 202.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from urllib.parse import quote

from starlette.responses import JSONResponse, Response

from coveo_emulator import calls, errors, wire
from coveo_emulator.calls import Call
from coveo_emulator.errors import CoveoError
from coveo_emulator.processing import (
    DeleteItem,
    DeleteItemsOlderThan,
    DisableIdentitiesOlderThan,
    IdentityBatch,
    IdentityChange,
    ItemBatch,
    UpsertItem,
)
from coveo_emulator.state import Container
from coveo_emulator.wire import WireError

PUSH = "/push/v1/organizations/{organizationId}"
UPLOAD_BUCKET = "coveo-emulator-customerdata"
UPLOAD = "/s3/" + UPLOAD_BUCKET + "/{organizationId}/{fileId}"
REQUIRED_UPLOAD_HEADERS = {
    "x-amz-server-side-encryption": "AES256",
    "Content-Type": "application/octet-stream",
}
STATUS_TYPES = ("REBUILD", "REFRESH", "INCREMENTAL", "IDLE")


def _wire_error(exc: WireError) -> CoveoError:
    return CoveoError(exc.status, exc.error_code, exc.message)


# --- items ---------------------------------------------------------------------------------------


async def put_document(call: Call) -> Response:
    calls.check_source(call)
    config = call.emu.config
    document_id = calls.required(call, "documentId")
    if not wire.is_uri(document_id):
        raise errors.invalid_parameter(
            "documentId", f"{document_id!r} is not a URI (e.g. file://folder/item.txt)"
        )
    ordering = calls.ordering_id(call)
    calls.check_json_content_type(call)
    body = await calls.read_body(call, config.max_request_bytes)
    if not body or body.isspace():
        raise errors.missing_parameter("documentBody")
    try:
        compression = wire.parse_compression_param(call.query("compressionType"))
        doc = wire.parse_document(
            wire.loads(body),
            default_provider=config.provider_id,
            max_inline_bytes=config.max_inline_data_bytes,
            query_document_id=document_id,
            query_compression=compression,
        )
    except WireError as exc:
        raise _wire_error(exc) from None
    call.enqueue(UpsertItem(doc, ordering))
    return calls.accepted()


async def delete_document(call: Call) -> Response:
    calls.check_source(call)
    document_id = calls.required(call, "documentId")
    children = calls.boolean(call, "deleteChildren")
    ordering = calls.ordering_id(call)
    await calls.read_body(call, call.emu.config.max_request_bytes)
    call.enqueue(DeleteItem(document_id, children, ordering))
    return calls.accepted()


async def delete_documents_older_than(call: Call) -> Response:
    calls.check_source(call)
    ordering = calls.ordering_id(call, required=True)
    delay = calls.queue_delay_ms(call)
    call.enqueue(DeleteItemsOlderThan(ordering), extra_delay_ms=delay)
    return calls.accepted()


def _check_container_size(call: Call, file_id: str) -> None:
    container = call.emu.state.containers.get(file_id)
    limit = call.emu.config.max_container_bytes
    if container is not None and (container.oversize or container.size > limit):
        raise errors.too_large(
            f"File container '{file_id}' holds {container.size} bytes; the limit is {limit} bytes."
        )


async def put_documents_batch(call: Call) -> Response:
    calls.check_source(call)
    file_id = calls.required(call, "fileId")
    ordering = calls.ordering_id(call)
    _check_container_size(call, file_id)
    call.enqueue(ItemBatch(file_id, ordering))
    return calls.accepted()


async def set_source_status(call: Call) -> Response:
    calls.check_source(call)
    raw = calls.required(call, "statusType")
    status = raw.upper()  # "case insensitive" (OLD-DOCS, reference §2.2)
    if status not in STATUS_TYPES:
        raise errors.invalid_parameter("statusType", f"{raw!r}; expected one of {', '.join(STATUS_TYPES)}")
    # "Pushing an active source status (REBUILD, REFRESH, or INCREMENTAL) creates an activity.
    # Pushing the IDLE status terminates the ongoing activity and marks it as completed" (SPEC-PUSH
    # setSourceStatus). Synchronous, not queued: the 201 means the status is set.
    if not call.lose:
        state = call.emu.state
        state.source_status.push(status, call.received_ms, len(state.logs.entries))
    return Response(status_code=201)


# --- file containers -----------------------------------------------------------------------------


def _signature(call: Call, file_id: str) -> str:
    return hmac.new(call.emu.upload_secret, file_id.encode(), hashlib.sha256).hexdigest()


async def create_file_container(call: Call) -> Response:
    calls.check_org(call)
    await calls.read_body(call, call.emu.config.max_request_bytes)  # clients send nothing or {}
    config = call.emu.config
    file_id = str(uuid.uuid4())
    expires_s = int(config.container_ttl_s)
    container = Container(
        file_id=file_id,
        created_ms=call.received_ms,
        expires_ms=call.received_ms + expires_s * 1000,
        signature=_signature(call, file_id),
    )
    call.emu.state.containers[file_id] = container
    base = str(call.request.base_url).rstrip("/")
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(call.received_ms / 1000))
    upload_uri = (
        f"{base}/s3/{UPLOAD_BUCKET}/{quote(config.organization_id)}/{file_id}"
        f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={amz_date}&X-Amz-Expires={expires_s}"
        f"&X-Amz-SignedHeaders=content-type%3Bhost%3Bx-amz-server-side-encryption"
        f"&X-Amz-Signature={container.signature}"
    )
    return JSONResponse(
        {"uploadUri": upload_uri, "fileId": file_id, "requiredHeaders": dict(REQUIRED_UPLOAD_HEADERS)},
        status_code=201,
    )


def _s3_error(code: str, message: str, status: int = 403) -> Response:
    request_id = uuid.uuid4().hex[:16].upper()
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{request_id}</RequestId><HostId>emulator</HostId></Error>"
    )
    return Response(xml.encode(), status_code=status, media_type="application/xml")


async def upload_to_container(call: Call) -> Response:
    """PUT <uploadUri>: S3 answers a generic 403 for any mismatch with the presigned request."""
    request = call.request
    file_id = call.params["fileId"]
    container = call.emu.state.containers.get(file_id)
    signature = call.query("X-Amz-Signature") or ""
    size = 0
    chunks: list[bytes] = []
    limit = call.emu.config.max_container_bytes
    async for chunk in request.stream():  # always drain: the client then reads our answer
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
    call.emu.stats.bytes_in += size
    if container is None or not hmac.compare_digest(signature, container.signature):
        return _s3_error(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )
    if call.params["organizationId"] != call.emu.config.organization_id:
        return _s3_error("AccessDenied", "Access Denied")
    if call.received_ms > container.expires_ms:
        return _s3_error("AccessDenied", "Request has expired")
    if container.consumed:
        return _s3_error("AccessDenied", "Access Denied")
    for name, value in REQUIRED_UPLOAD_HEADERS.items():
        if request.headers.get(name) != value:
            return _s3_error("AccessDenied", "Access Denied")
    if request.headers.get("content-length") is None:
        return _s3_error("MissingContentLength", "You must provide the Content-Length HTTP header.", 411)
    if call.lose:  # fault "lose": S3 says 200 but keeps nothing
        return Response(status_code=200)
    container.uploads += 1
    container.size = size
    container.oversize = size > limit
    container.content = None if container.oversize else b"".join(chunks)
    return Response(status_code=200)


# --- security identities -------------------------------------------------------------------------


async def _identity_body(call: Call, kind: str, name: str) -> wire.IdentityBody:
    calls.check_json_content_type(call)
    body = await calls.read_body(call, call.emu.config.max_request_bytes)
    if not body or body.isspace():
        raise errors.missing_parameter(name)
    try:
        return wire.parse_identity_body(wire.loads(body), kind)
    except WireError as exc:
        raise _wire_error(exc) from None


async def put_identity(call: Call) -> Response:
    provider = calls.check_provider(call)
    ordering = calls.ordering_id(call)
    body = await _identity_body(call, "identity", "identityBody")
    call.enqueue(IdentityChange(provider, "identity", body, ordering))
    return calls.accepted()


async def put_mapping(call: Call) -> Response:
    provider = calls.check_provider(call)
    ordering = calls.ordering_id(call)
    body = await _identity_body(call, "mapping", "mappedIdentityBody")
    call.enqueue(IdentityChange(provider, "mapping", body, ordering))
    return calls.accepted()


async def delete_identity(call: Call) -> Response:
    provider = calls.check_provider(call)
    ordering = calls.ordering_id(call)
    body = await _identity_body(call, "delete", "identityBody")
    call.enqueue(IdentityChange(provider, "delete", body, ordering))
    return calls.accepted()


async def delete_identities_older_than(call: Call) -> Response:
    provider = calls.check_provider(call)
    ordering = calls.ordering_id(call, required=True)
    delay = calls.queue_delay_ms(call)
    call.enqueue(DisableIdentitiesOlderThan(provider, ordering), extra_delay_ms=delay)
    return calls.accepted()


async def put_identities_batch(call: Call) -> Response:
    provider = calls.check_provider(call)
    file_id = calls.required(call, "fileId")
    ordering = calls.ordering_id(call)
    _check_container_size(call, file_id)
    call.enqueue(IdentityBatch(provider, file_id, ordering))
    return calls.accepted()
