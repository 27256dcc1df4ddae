"""Building a function's pipeline from its environment: settings, the API key, clients, adapters.

Built once per Lambda container (cold start) and reused; tests pass their own `Pipeline` instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from coveo_push_api import CoveoClient, PushLimits

from .adapters.dynamodb_ledger import DynamoDBLedger
from .adapters.s3_content import S3Content
from .adapters.sqs_dead_letters import SqsDeadLetters
from .pipeline import Pipeline, PipelineSettings
from .settings import ConnectorSettings

SECRET_MAX_AGE_S = 300  # a rotated key is picked up within five minutes


def api_key_from_secret(secret: str, client: Any = None) -> str:
    """The Coveo API key from Secrets Manager, cached by Powertools Parameters.

    The secret holds the key itself, or JSON with an `apiKey` field.
    """
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    value = SecretsProvider(boto3_client=client).get(secret, max_age=SECRET_MAX_AGE_S)
    text = value.decode() if isinstance(value, bytes) else str(value)
    if text.lstrip().startswith("{"):
        import json

        text = str(json.loads(text).get("apiKey", ""))
    if not text:
        raise ValueError(f"secret {secret!r} holds no API key")
    return text


def build_pipeline(kind: str, function_name: str, env: Mapping[str, str] | None = None) -> Pipeline:
    import boto3

    settings = ConnectorSettings.from_env(env if env is not None else os.environ)
    session = boto3.session.Session()
    limits = (
        PushLimits(max_container_bytes=settings.max_container_bytes) if settings.max_container_bytes else None
    )
    coveo = CoveoClient(
        settings.organization_id,
        api_key_from_secret(settings.api_key_secret, session.client("secretsmanager")),
        region=settings.region,
        base_url=settings.base_url,
        limits=limits,
    )
    return Pipeline(
        settings=PipelineSettings(
            source_id=settings.source_id,
            provider_id=settings.provider_id,
            kind=kind,
            allow_public_items=settings.allow_public_items,
            max_permissions=settings.max_permissions_per_item,
            alias_providers=settings.alias_providers,
            default_alias_provider=settings.default_alias_provider,
            safety_margin_s=settings.safety_margin_s,
            ledger_ttl_s=settings.ledger_ttl_days * 24 * 3600,
        ),
        coveo=coveo,
        ledger=DynamoDBLedger(session.client("dynamodb"), settings.ledger_table),
        dead_letters=SqsDeadLetters(session.client("sqs"), settings.dead_letter_queue_url, function_name),
        content=S3Content(session.client("s3")) if kind == "item" else None,
    )
