"""A Lambda context object for invoking handlers outside Lambda, with a real countdown."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"


@dataclass
class LambdaContext:
    """What the Python runtime passes as `context`, as far as handlers and Powertools read it.

    `get_remaining_time_in_millis()` counts down from `timeout_s` from the moment the context is
    made (so make it at invocation start) and never goes below 0, like the runtime's.
    `memory_limit_in_mb` is an int, as Powertools types it (the runtime itself hands over the
    environment variable's string).
    """

    function_name: str
    timeout_s: float
    memory_limit_in_mb: int = 128
    region: str = DEFAULT_REGION
    account_id: str = DEFAULT_ACCOUNT_ID
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)
    _deadline: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._deadline = self.clock() + self.timeout_s

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/[{self.function_version}]{self.aws_request_id.replace('-', '')}"

    @property
    def identity(self) -> None:
        return None

    @property
    def client_context(self) -> None:
        return None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self.clock()) * 1000))
