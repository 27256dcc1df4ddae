"""Building a function's collaborators from its environment: settings, the API key, clients, adapters.

Built once per Lambda container (cold start) and reused; tests pass their own `Pipeline` instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from coveo_push_api import CoveoClient, PushLimits

from ..adapters.dynamodb_ledger import LEDGER_CONCURRENCY, DynamoDBLedger
from ..adapters.s3_content import S3Content
from ..adapters.secrets import api_key_from_secret
from ..adapters.sqs_dead_letters import SqsDeadLetters
from ..domain.pipeline import Pipeline, PipelineSettings
from ..domain.validator import Validator, ValidatorSettings
from .settings import ConnectorSettings


@dataclass
class Runtime:
    """What a function builds once per container: settings, AWS clients, the Coveo client."""

    settings: ConnectorSettings
    client: Callable[..., Any]  # boto3 client factory: (service name, **options) → client
    coveo: CoveoClient

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, client: Callable[..., Any] | None = None
    ) -> Runtime:
        """`client` makes boto3 clients (the local run points them at moto); default: boto3's own."""
        settings = ConnectorSettings.from_env(env if env is not None else os.environ)
        if client is None:
            import boto3

            client = boto3.session.Session().client
        limits = (
            PushLimits(max_container_bytes=settings.max_container_bytes)
            if settings.max_container_bytes
            else None
        )
        coveo = CoveoClient(
            settings.organization_id,
            api_key_from_secret(settings.api_key_secret, client("secretsmanager")),
            region=settings.region,
            base_url=settings.base_url,
            limits=limits,
        )
        return cls(settings, client, coveo)

    def ledger(self) -> DynamoDBLedger:
        from botocore.config import Config

        # One connection per concurrent ledger write (boto3's default pool holds 10).
        client = self.client("dynamodb", config=Config(max_pool_connections=LEDGER_CONCURRENCY))
        return DynamoDBLedger(client, self.settings.ledger_table, LEDGER_CONCURRENCY)

    def pipeline(self, kind: str, function_name: str) -> Pipeline:
        settings = self.settings
        dlq_url = (
            settings.item_dead_letter_queue_url if kind == "item" else settings.identity_dead_letter_queue_url
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
                max_receive_count=settings.max_receive_count,
            ),
            coveo=self.coveo,
            ledger=self.ledger(),
            dead_letters=SqsDeadLetters(self.client("sqs"), dlq_url, function_name),
            content=S3Content(self.client("s3")) if kind == "item" else None,
        )

    def validator(self, function_name: str) -> Validator:
        pipelines: dict[str, Pipeline] = {}

        def repush(kind: str) -> Pipeline:
            if kind not in pipelines:
                pipelines[kind] = self.pipeline(kind, function_name)
            return pipelines[kind]

        settings = self.settings
        return Validator(
            ValidatorSettings(
                source_id=settings.source_id,
                provider_id=settings.provider_id,
                processing_delay_s=settings.processing_delay_s,
                deadline_s=settings.validation_deadline_s,
                max_repushes=settings.max_repushes,
                permission_sample=settings.permission_sample,
                allow_public_items=settings.allow_public_items,
            ),
            ledger=self.ledger(),
            coveo=self.coveo,
            repush=repush,
        )


def build_pipeline(kind: str, function_name: str, env: Mapping[str, str] | None = None) -> Pipeline:
    return Runtime.from_env(env).pipeline(kind, function_name)
