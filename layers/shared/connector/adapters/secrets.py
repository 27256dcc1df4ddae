"""The Coveo API key, read from AWS Secrets Manager through Powertools Parameters (cached)."""

from __future__ import annotations

import json
from typing import Any

SECRET_MAX_AGE_S = 300  # a rotated key is picked up within five minutes


def api_key_from_secret(secret: str, client: Any = None) -> str:
    """The Coveo API key from Secrets Manager, cached by Powertools Parameters.

    The secret holds the key itself, or JSON with an `apiKey` field.
    """
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    value = SecretsProvider(boto3_client=client).get(secret, max_age=SECRET_MAX_AGE_S)
    text = value.decode() if isinstance(value, bytes) else str(value)
    if text.lstrip().startswith("{"):
        text = str(json.loads(text).get("apiKey", ""))
    if not text:
        raise ValueError(f"secret {secret!r} holds no API key")
    return text
