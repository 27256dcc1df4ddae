"""The deployment's settings reach the domain by name, with the domain's own defaults: a variable
the template sets must change what the pipeline and the validator do, and an unset one must not."""

from __future__ import annotations

from dataclasses import fields

from connector.domain.events import Kind
from connector.domain.pipeline import PipelineSettings
from connector.domain.validator import ValidatorSettings
from connector.entry.settings import ConnectorSettings

REQUIRED = {
    "COVEO_ORGANIZATION_ID": "org",
    "COVEO_SOURCE_ID": "src",
    "COVEO_PROVIDER_ID": "prov",
    "COVEO_API_KEY_SECRET": "secret",
    "LEDGER_TABLE": "ledger",
    "LEDGER_BUCKET": "ledger-bucket",
    "ITEM_DEAD_LETTER_QUEUE_URL": "https://sqs/item-dlq",
    "IDENTITY_DEAD_LETTER_QUEUE_URL": "https://sqs/identity-dlq",
}


def test_every_variable_that_configures_the_domain_reaches_it() -> None:
    settings = ConnectorSettings.from_env(
        {
            **REQUIRED,
            "ALLOW_PUBLIC_ITEMS": "true",
            "MAX_PERMISSIONS_PER_ITEM": "17",
            "ALIAS_PROVIDERS": "A, B",
            "DEFAULT_ALIAS_PROVIDER": "A",
            "SAFETY_MARGIN_SECONDS": "3.5",
            "LEDGER_TTL_DAYS": "9",
            "MAX_RECEIVE_COUNT": "7",
            "PROCESSING_DELAY_SECONDS": "11",
            "VALIDATION_DEADLINE_SECONDS": "12",
            "MAX_REPUSHES": "13",
            "PERMISSION_SAMPLE": "14",
        }
    )
    assert settings.domain(PipelineSettings, kind=Kind.IDENTITY) == PipelineSettings(
        source_id="src",
        provider_id="prov",
        kind=Kind.IDENTITY,
        allow_public_items=True,
        max_permissions=17,
        alias_providers=frozenset({"A", "B"}),
        default_alias_provider="A",
        safety_margin_s=3.5,
        ledger_ttl_days=9,
        max_receive_count=7,
    )
    assert settings.domain(ValidatorSettings) == ValidatorSettings(
        source_id="src",
        provider_id="prov",
        processing_delay_s=11,
        deadline_s=12,
        max_repushes=13,
        permission_sample=14,
        allow_public_items=True,
    )


def test_unset_variables_leave_the_domains_own_defaults() -> None:
    settings = ConnectorSettings.from_env(REQUIRED)
    assert settings.domain(PipelineSettings, kind=Kind.ITEM) == PipelineSettings("src", "prov", Kind.ITEM)
    assert settings.domain(ValidatorSettings) == ValidatorSettings("src", "prov")


def test_the_domain_settings_no_variable_sets_are_the_named_few() -> None:
    """Settings flow by field name: renaming one side alone would silently stop it flowing."""
    configurable = set(ConnectorSettings.model_fields)
    assert {f.name for f in fields(PipelineSettings)} - configurable == {"kind", "max_stored_change_bytes"}
    assert {f.name for f in fields(ValidatorSettings)} - configurable == {"page_size", "logs_per_page"}
