"""The Coveo API key, read from AWS Secrets Manager through Powertools Parameters (cached)."""

from __future__ import annotations

import json
import threading
from typing import Any

# A warm container reads the secret again once its copy is this old, so a rotated key is in use
# within five minutes; a 401 before that makes the Coveo client re-read it at once (`refresh`).
SECRET_MAX_AGE_S = 300


class SecretApiKey:
    """The Coveo client's key source (`coveo_push_api.ApiKeySource`) over one secret.

    `current()` is the key Powertools has cached, read again once it is `max_age_s` old; `refresh()`
    reads the secret now (the client calls it when Coveo answers 401: the key may have been rotated).
    The secret holds the key itself, or JSON with an `apiKey` field. The key is never in a repr or
    an error message.
    """

    def __init__(
        self,
        secret: str,
        client: Any = None,
        *,
        max_age_s: int = SECRET_MAX_AGE_S,
        provider: Any = None,
    ) -> None:
        """`client`: a boto3 Secrets Manager client (default: Powertools makes one); `provider`: a
        Powertools `SecretsProvider` to use instead (it holds the cache)."""
        if provider is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider

            provider = SecretsProvider(boto3_client=client)
        self.secret = secret
        self.max_age_s = max_age_s
        self._provider = provider
        # Requests on several threads share the source: one read of the secret at a time, so an
        # expired cache or a burst of 401s makes one GetSecretValue call, not one per thread.
        self._lock = threading.Lock()

    def current(self) -> str:
        return self._read(force_fetch=False)

    def refresh(self) -> str:
        return self._read(force_fetch=True)

    def _read(self, *, force_fetch: bool) -> str:
        with self._lock:
            value = self._provider.get(self.secret, max_age=self.max_age_s, force_fetch=force_fetch)
        return _parse_key(self.secret, value)

    def __repr__(self) -> str:  # the secret's name, never its value
        return f"SecretApiKey(secret={self.secret!r}, max_age_s={self.max_age_s})"


def _parse_key(secret: str, value: Any) -> str:
    text = value.decode() if isinstance(value, bytes) else str(value)
    if text.lstrip().startswith("{"):
        try:
            text = str(json.loads(text).get("apiKey", ""))
        except (ValueError, AttributeError):
            raise ValueError(f"secret {secret!r} holds JSON without a usable apiKey field") from None
    if not text:
        raise ValueError(f"secret {secret!r} holds no API key")
    return text


def api_key_from_secret(secret: str, client: Any = None) -> str:
    """The Coveo API key in Secrets Manager now (the secret holds the key, or JSON with `apiKey`)."""
    return SecretApiKey(secret, client).current()
