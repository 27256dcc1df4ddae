"""A Coveo Push API client faithful to Coveo's published spec: typed models, retries within a
deadline, regions, file containers and batch splitting. Knows HTTP and Coveo, nothing of AWS."""

from .auth import ApiKeySource, ApiKeyUnavailableError, StaticApiKey
from .client import BatchReceipt, CoveoClient, PushLimits, shared_http_client
from .endpoints import Endpoints, Region
from .errors import (
    CoveoAuthError,
    CoveoBadRequestError,
    CoveoError,
    CoveoHTTPError,
    CoveoNotFoundError,
    CoveoPayloadTooLargeError,
    CoveoPreconditionError,
    CoveoServerError,
    CoveoThrottledError,
    CoveoTransportError,
    CoveoUnsupportedMediaTypeError,
    DeadlineExceededError,
    FileContainerUploadError,
    ItemTooLargeError,
)
from .retry import Deadline, RetryPolicy
from .version import USER_AGENT, __version__

__all__ = [
    "USER_AGENT",
    "ApiKeySource",
    "ApiKeyUnavailableError",
    "BatchReceipt",
    "CoveoAuthError",
    "CoveoBadRequestError",
    "CoveoClient",
    "CoveoError",
    "CoveoHTTPError",
    "CoveoNotFoundError",
    "CoveoPayloadTooLargeError",
    "CoveoPreconditionError",
    "CoveoServerError",
    "CoveoThrottledError",
    "CoveoTransportError",
    "CoveoUnsupportedMediaTypeError",
    "Deadline",
    "DeadlineExceededError",
    "Endpoints",
    "FileContainerUploadError",
    "ItemTooLargeError",
    "PushLimits",
    "Region",
    "RetryPolicy",
    "StaticApiKey",
    "__version__",
    "shared_http_client",
]
