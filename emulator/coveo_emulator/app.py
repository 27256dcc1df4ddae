"""Routes → handlers. One wrapper per route does what every call shares: apply the operations
that are due, count the request under its route template, inject faults, map CoveoError to
Coveo's error body; around it, on Coveo's routes, the network's round trip (latency.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from coveo_emulator import control, platform_routes, push_routes
from coveo_emulator.calls import Call
from coveo_emulator.config import EmulatorConfig
from coveo_emulator.core import Emulator
from coveo_emulator.errors import CoveoError
from coveo_emulator.faults import FaultRule
from coveo_emulator.push_routes import PUSH, UPLOAD

Handler = Callable[[Call], Awaitable[Response]]
RAW_SEND = "coveo_emulator.send"

SOURCE = PUSH + "/sources/{sourceId}"
PROVIDER = PUSH + "/providers/{providerId}"
LOGS = "/logs/v1/organizations/{organizationId}"
REST = "/rest/organizations/{organizationId}"
DOCUMENT = REST + "/indexes/{indexId}/documents/{documentId}"

# (method, route template as reported in stats, handler). Hot routes first: Starlette tries
# routes in order.
API_ROUTES: list[tuple[str, str, Handler]] = [
    ("PUT", SOURCE + "/documents", push_routes.put_document),
    ("DELETE", SOURCE + "/documents", push_routes.delete_document),
    ("PUT", SOURCE + "/documents/batch", push_routes.put_documents_batch),
    ("DELETE", SOURCE + "/documents/olderthan", push_routes.delete_documents_older_than),
    ("POST", PUSH + "/files", push_routes.create_file_container),
    ("PUT", UPLOAD, push_routes.upload_to_container),
    ("POST", SOURCE + "/status", push_routes.set_source_status),
    ("PUT", PROVIDER + "/permissions", push_routes.put_identity),
    ("DELETE", PROVIDER + "/permissions", push_routes.delete_identity),
    ("PUT", PROVIDER + "/mappings", push_routes.put_mapping),
    ("PUT", PROVIDER + "/permissions/batch", push_routes.put_identities_batch),
    ("DELETE", PROVIDER + "/permissions/olderthan", push_routes.delete_identities_older_than),
    ("POST", LOGS, platform_routes.get_logs),
    ("POST", LOGS + "/facets", platform_routes.get_log_facets),
    ("POST", LOGS + "/facetsStats", platform_routes.get_log_facets_stats),
    ("GET", REST + "/indexes", platform_routes.list_indexes),
    ("GET", DOCUMENT + "/permissions", platform_routes.get_permissions),
    ("GET", DOCUMENT + "/permissions/effective", platform_routes.get_effective_permissions),
    ("POST", REST + "/securitycache/entities/{providerId}/entity", platform_routes.get_cache_entity),
    (
        "POST",
        REST + "/securitycache/entities/{providerId}/members/children",
        platform_routes.get_cache_children,
    ),
    ("GET", REST + "/securitycache/entities/{providerId}", platform_routes.list_cache_entities),
    ("GET", REST + "/sources/{sourceId}", platform_routes.get_source),
]

CONTROL_ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", "/_emulator/reset", control.reset),
    ("PUT", "/_emulator/faults", control.put_faults),
    ("GET", "/_emulator/faults", control.get_faults),
    ("GET", "/_emulator/stats", control.get_stats),
    ("PUT", "/_emulator/latency", control.put_latency),
    ("GET", "/_emulator/latency", control.get_latency),
    ("GET", "/_emulator/state", control.get_state),
    ("POST", "/_emulator/clock", control.advance_clock),
    ("PUT", "/_emulator/api-key", control.put_api_key),
    ("GET", "/_emulator/health", control.health),
]

_FAULT_BODIES = {
    "500": (500, "INTERNAL_SERVER_ERROR", "Failed to process request due to an internal error."),
    "503": (503, "SERVICE_UNAVAILABLE", "The service is temporarily unavailable."),
    "504": (504, None, "Endpoint request timed out"),  # API Gateway's GatewayTimeoutError {message}
}


class _NoResponse(Response):
    """Sends nothing: the connection is already closed."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        return None


async def _drop(request: Request) -> Response:
    """Close the TCP connection without answering (the request has no effect)."""
    send = request.scope.get(RAW_SEND)
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:  # not served by uvicorn: the closest thing is an aborted response
        raise ConnectionAbortedError("fault rule 'drop'")
    transport.abort()
    for _ in range(3):  # let uvicorn notice the disconnect so it does not try to answer
        await asyncio.sleep(0)
    return _NoResponse()


def _fault_response(rule: FaultRule) -> Response:
    if rule.action == "429":
        retry_after = rule.retry_after
        text = str(int(retry_after)) if retry_after == int(retry_after) else str(retry_after)
        return CoveoError(
            429, "TOO_MANY_REQUESTS", "Too many requests: slow down.", headers={"Retry-After": text}
        ).response()
    status, code, message = _FAULT_BODIES[rule.action]
    return CoveoError(status, code, message).response()


def _route(emu: Emulator, method: str, template: str, handler: Handler, *, counted: bool) -> Route:
    key = f"{method} {template}"

    async def handle(request: Request) -> Response:
        emu.pipeline.apply_due()
        call = Call(request, emu, emu.clock.now_ms())
        if counted:
            stats = emu.stats
            stats.total += 1
            stats.by_route[key] = stats.by_route.get(key, 0) + 1
            if emu.faults.rules:
                rule = emu.faults.decide(method, template, request.scope["path"])
                if rule is not None:
                    if rule.action == "delay":
                        await asyncio.sleep(rule.delay_s)
                        emu.pipeline.apply_due()
                        call.received_ms = emu.clock.now_ms()
                    elif rule.action == "lose":
                        call.lose = True
                    elif rule.action == "drop":
                        return await _drop(request)
                    else:
                        declared = request.headers.get("content-length")
                        if declared and declared.isdigit():
                            stats.bytes_in += int(declared)
                        response = _fault_response(rule)
                        stats.by_status[response.status_code] = (
                            stats.by_status.get(response.status_code, 0) + 1
                        )
                        return response
        try:
            response = await handler(call)
        except CoveoError as exc:
            response = exc.response()
        if counted:
            by_status = emu.stats.by_status
            by_status[response.status_code] = by_status.get(response.status_code, 0) + 1
        return response

    async def endpoint(request: Request) -> Response:
        latency = emu.latency
        if not (counted and latency.active):
            return await handle(request)
        # The network (coveo_emulator.latency): half the round trip before the request is handled,
        # half before its answer leaves; asyncio.sleep, so concurrent requests overlap.
        round_trip = latency.draw()
        await asyncio.sleep(round_trip / 2)
        response = await handle(request)
        if not isinstance(response, _NoResponse):  # a dropped connection sends nothing back
            await asyncio.sleep(round_trip / 2)
        return response

    # Item permission routes carry a documentId that may arrive decoded with slashes in it.
    path = template.replace("{documentId}", "{documentId:path}")
    return Route(path, endpoint if counted else handle, methods=[method], name=key)


class EmulatorApp(Starlette):
    emulator: Emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[RAW_SEND] = send  # uvicorn's own send: the 'drop' fault needs its transport
        await super().__call__(scope, receive, send)


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 405:
        return CoveoError(
            405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed on {request.url.path}."
        ).response()
    if status == 404:
        return CoveoError(404, "NOT_FOUND", f"No route for {request.method} {request.url.path}.").response()
    return CoveoError(status, "ERROR", str(exc)).response()


async def _server_error(request: Request, exc: Exception) -> Response:
    return CoveoError(
        500, "INTERNAL_SERVER_ERROR", "Failed to process request due to an internal error."
    ).response()


def create_app(config: EmulatorConfig | None = None) -> EmulatorApp:
    emu = Emulator(config or EmulatorConfig())
    routes = [_route(emu, m, t, h, counted=True) for m, t, h in API_ROUTES]
    routes += [_route(emu, m, t, h, counted=False) for m, t, h in CONTROL_ROUTES]
    app = EmulatorApp(
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    app.emulator = emu
    return app
