"""Coveo error bodies.

Coveo answers errors with ``{"errorCode": ..., "message": ...}`` (reference §3.5, §5). Handlers
raise :class:`CoveoError`; the route wrapper turns it into a response, so the happy path pays for
no error handling.
"""

from __future__ import annotations

import json

from starlette.responses import Response


class CoveoError(Exception):
    """An error answered synchronously, as the real service does."""

    def __init__(
        self,
        status: int,
        error_code: str | None,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        if self.error_code is None:  # e.g. API Gateway's 504: {"message": ...} only
            return {"message": self.message}
        return {"errorCode": self.error_code, "message": self.message}

    def response(self) -> Response:
        return Response(
            json.dumps(self.body()).encode(),
            status_code=self.status,
            headers=self.headers,
            media_type="application/json",
        )


def unauthorized() -> CoveoError:
    return CoveoError(401, "UNAUTHORIZED", "The request is missing the Authorization header.")


def invalid_token() -> CoveoError:
    return CoveoError(401, "INVALID_TOKEN", "Token is invalid.")


def organization_not_found(org: str) -> CoveoError:
    return CoveoError(404, "ORGANIZATION_NOT_FOUND", f"Organization '{org}' does not exist.")


def source_not_found(source: str) -> CoveoError:
    return CoveoError(412, "SOURCE_DOES_NOT_EXIST", f"Source '{source}' does not exist.")


def provider_not_found(provider: str) -> CoveoError:
    return CoveoError(
        412,
        "SECURITY_PROVIDER_DOES_NOT_EXIST",
        f"Security identity provider '{provider}' does not exist or is not a Push security provider.",
    )


def missing_parameter(name: str) -> CoveoError:
    return CoveoError(412, "MISSING_PARAMETER", f"Parameter '{name}' is missing.")


def invalid_parameter(name: str, detail: str) -> CoveoError:
    return CoveoError(412, "INVALID_PARAMETER", f"Parameter '{name}' is invalid: {detail}")


def invalid_json(detail: str) -> CoveoError:
    return CoveoError(400, "INVALID_JSON", f"Invalid JSON. {detail}")


def too_large(detail: str) -> CoveoError:
    return CoveoError(413, "REQUEST_ENTITY_TOO_LARGE", detail)


def unsupported_media_type(content_type: str) -> CoveoError:
    return CoveoError(
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        f"Content type '{content_type}' is not supported; use application/json.",
    )


def not_found(code: str, message: str) -> CoveoError:
    return CoveoError(404, code, message)


def bad_request(code: str, message: str) -> CoveoError:
    return CoveoError(400, code, message)
