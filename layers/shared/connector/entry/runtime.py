"""Building a function's collaborators from its environment: settings, the API key, clients, adapters.

Built once per Lambda container (cold start) and reused; tests pass their own `Pipeline` instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from coveo_push_api import CoveoClient, PushLimits

from ..adapters.dynamodb_ledger import CLIENT_OPTIONS, LEDGER_CONCURRENCY, DynamoDBLedger
from ..adapters.dynamodb_syncs import DynamoDBSyncs
from ..adapters.s3_content import S3Content
from ..adapters.s3_ledger_entries import S3LedgerEntries
from ..adapters.secrets import SecretApiKey
from ..adapters.sqs_dead_letters import SqsDeadLetters
from ..domain.events import Kind
from ..domain.pipeline import Pipeline, PipelineSettings
from ..domain.sync import SyncSettings
from ..domain.sync_closing import SyncCloser
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
        # The key is read again once its cached copy is 5 minutes old, and at once on a 401: a
        # rotated key reaches warm containers without a deploy. Read it now, so that a missing or
        # empty secret fails the cold start with a clear error.
        api_key = SecretApiKey(settings.api_key_secret, client("secretsmanager"))
        api_key.current()
        coveo = CoveoClient(
            settings.organization_id,
            api_key,
            region=settings.region,
            base_url=settings.base_url,
            limits=limits,
        )
        return cls(settings, client, coveo)

    @cached_property
    def s3(self) -> Any:
        """One S3 client for the ledger's entries and the producers' content (a client costs
        cold-start time; boto3's clients are thread-safe)."""
        return self.client("s3")

    @cached_property
    def dynamodb(self) -> Any:
        from botocore.config import Config

        return self.client("dynamodb", config=Config(**CLIENT_OPTIONS))

    def ledger(self) -> DynamoDBLedger:
        entries = S3LedgerEntries(self.s3, self.settings.ledger_bucket)
        return DynamoDBLedger(
            self.dynamodb,
            self.settings.ledger_table,
            LEDGER_CONCURRENCY,
            entries=entries,
            claims_per_transaction=self.settings.claims_per_transaction,
        )

    def syncs(self) -> DynamoDBSyncs:
        settings = self.settings
        return DynamoDBSyncs(
            self.dynamodb,
            settings.ledger_table,
            self.s3,
            settings.ledger_bucket,
            ttl_days=settings.ledger_ttl_days,
        )

    def pipeline(self, kind: Kind, function_name: str) -> Pipeline:
        settings = self.settings
        dead_letter_queue_url = {
            Kind.ITEM: settings.item_dead_letter_queue_url,
            Kind.IDENTITY: settings.identity_dead_letter_queue_url,
        }[kind]
        return Pipeline(
            settings=settings.domain(PipelineSettings, kind=kind),
            coveo=self.coveo,
            ledger=self.ledger(),
            dead_letters=SqsDeadLetters(self.client("sqs"), dead_letter_queue_url, function_name),
            # Only items take content by reference (data.contentRef).
            content=S3Content(self.s3) if kind == Kind.ITEM else None,
            syncs=self.syncs(),
        )

    def validator(self, function_name: str) -> Validator:
        pipelines: dict[Kind, Pipeline] = {}

        def repush(kind: Kind) -> Pipeline:
            if kind not in pipelines:
                pipelines[kind] = self.pipeline(kind, function_name)
            return pipelines[kind]

        ledger = self.ledger()
        return Validator(
            self.settings.domain(ValidatorSettings),
            ledger=ledger,
            coveo=self.coveo,
            repush=repush,
            syncs=SyncCloser(self.settings.domain(SyncSettings), self.syncs(), ledger, self.coveo),
        )


def build_pipeline(kind: Kind, function_name: str, env: Mapping[str, str] | None = None) -> Pipeline:
    return Runtime.from_env(env).pipeline(kind, function_name)
