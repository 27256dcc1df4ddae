"""The DynamoDB ledger on moto: its condition expressions give the ledger's transitions (the same
scenarios as the in-memory ledger, tests/ledger_transitions.py), and the requests it sends are the
ones the guard and the validator rely on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from connector.adapters.dynamodb_ledger import DynamoDBLedger
from coveo_push_cli.local_aws import MotoServer, provision_from_template
from tests import ledger_transitions as lt


@pytest.fixture(scope="module")
def table(moto_server: MotoServer, template_path: Path, local_api_key: str) -> str:
    """One ledger table (as template.yaml declares it) for this module; tests keep to their keys."""
    resources = provision_from_template(
        template_path, moto_server, api_key=local_api_key, name_prefix="ledger-conditions-"
    )
    return resources.tables["LedgerTable"]


@pytest.mark.parametrize("scenario", lt.SCENARIOS, ids=lambda s: s.__name__)
def test_dynamodb_ledger(
    scenario: Callable[[lt.Ledger, str], None], moto_server: MotoServer, table: str
) -> None:
    scenario(DynamoDBLedger(moto_server.client("dynamodb"), table), f"item#{scenario.__name__}/")
