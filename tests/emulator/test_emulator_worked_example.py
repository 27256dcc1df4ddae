"""DESIGN.md's worked example, pushed with raw HTTP and with Coveo's official Python client."""

from __future__ import annotations

import time

import pytest

from coveo_emulator.server import EmulatorServer
from tests.emulator.emulator_helpers import (
    EMAIL,
    ORG,
    PROVIDER,
    SOURCE,
    WORKED_ITEM,
    Coveo,
    group,
    item_body,
    user,
)

WORKED_BODY = item_body(
    allowed=[group("AlphaTeam")],
    denied=[user("bob@example.com", EMAIL)],
    author="Alice Smith",
    title="My text",
    fileExtension=".txt",
)


def test_worked_example_alice_and_david_see_the_item_bob_does_not(worked_identities: Coveo) -> None:
    coveo = worked_identities
    assert coveo.put_item(WORKED_ITEM, WORKED_BODY).status_code == 202

    access = coveo.effective(WORKED_ITEM)
    assert access == {
        "alice": True,
        "david": True,
        "bob": False,
        "alice@example.com": True,
        "david@example.com": True,
        "bob@example.com": False,
    }
    model = coveo.permissions_response(WORKED_ITEM).json()
    assert model["state"] == "VALID"
    names = [p["identity"] for p in model["permissionLevels"][0]["permissionSets"][0]["permissions"]]
    assert names == ["AlphaTeam", "bob@example.com"]
    assert coveo.results(WORKED_ITEM) == [
        ("CONSUMING", "COMPLETED"),
        ("PROCESSING", "COMPLETED"),
        ("MAPPING", "COMPLETED"),
        ("INDEXING", "COMPLETED"),
    ]
    indexed = coveo.item(WORKED_ITEM)
    assert indexed is not None
    assert indexed["indexed"] is True
    assert indexed["metadata"] == {"author": "Alice Smith", "title": "My text"}


def test_changes_take_effect_only_after_the_processing_delay(coveo: Coveo) -> None:
    coveo.reset(processingDelaySeconds=1.0)
    members = [{"name": "alice", "type": "USER"}]
    sent = time.monotonic()
    assert (
        coveo.put_identity(
            {"identity": {"name": "AlphaTeam", "type": "GROUP"}, "members": members}
        ).status_code
        == 202
    )
    assert coveo.put_item(WORKED_ITEM, item_body(allowed=[group("AlphaTeam")])).status_code == 202

    assert coveo.logs(WORKED_ITEM) == []
    assert coveo.permissions_response(WORKED_ITEM).status_code == 404
    assert coveo.state()["pendingOperations"] == 2
    while coveo.state()["pendingOperations"]:  # until the emulator applies them (a hung test times out)
        assert time.monotonic() - sent < 30, "the pending operations were never applied"
        time.sleep(0.02)
    assert time.monotonic() - sent >= 1.0  # not before the processing delay
    assert coveo.effective(WORKED_ITEM) == {"alice": True}
    assert [entry["result"] for entry in coveo.logs(WORKED_ITEM)][-1:] == ["COMPLETED"]


def test_documentid_in_permission_routes_may_be_encoded_once_or_twice(worked_identities: Coveo) -> None:
    coveo = worked_identities
    coveo.put_item(WORKED_ITEM, WORKED_BODY)
    once = coveo.permissions_response(WORKED_ITEM, effective=True, encode_twice=False)
    twice = coveo.permissions_response(WORKED_ITEM, effective=True, encode_twice=True)
    assert once.status_code == twice.status_code == 200
    assert once.json()["items"] == twice.json()["items"]
    missing = coveo.permissions_response("file://folder/other.txt")
    assert missing.status_code == 404
    assert missing.json()["errorCode"] == "DOCUMENT_NOT_FOUND"


def test_effective_permissions_filter_and_page(worked_identities: Coveo) -> None:
    coveo = worked_identities
    coveo.put_item(WORKED_ITEM, WORKED_BODY)
    denied = coveo.permissions_response(WORKED_ITEM, effective=True, includedEntities="DENIED").json()
    assert {row["identity"] for row in denied["items"]} == {"bob", "bob@example.com"}
    assert denied["anonymousAllowed"] is False
    first = coveo.permissions_response(WORKED_ITEM, effective=True, perPage=4, page=0).json()
    second = coveo.permissions_response(WORKED_ITEM, effective=True, perPage=4, page=1).json()
    assert first["totalEntries"] == 6 and first["totalPages"] == 2
    assert len(first["items"]) == 4 and len(second["items"]) == 2


@pytest.fixture
def official_client(emulator_server: EmulatorServer, coveo: Coveo, monkeypatch: pytest.MonkeyPatch) -> object:
    """Coveo's push_api_clientpy, pointed at the emulator as local-tooling-facts.md §5 shows."""
    platformclient = pytest.importorskip("push_api_clientpy.platformclient")
    base = emulator_server.base_url
    monkeypatch.setattr(
        platformclient.PlatformClient,
        "_PlatformClient__basePushURL",
        lambda self: f"{base}/push/v1/organizations/{self.organizationid}",
    )
    monkeypatch.setattr(
        platformclient.PlatformClient,
        "_PlatformClient__basePlatformURL",
        lambda self: f"{base}/rest/organizations/{self.organizationid}",
    )
    return platformclient


def test_worked_example_through_the_official_python_client(official_client: object, coveo: Coveo) -> None:
    import push_api_clientpy as coveo_py
    from push_api_clientpy import platformclient as pc

    source = coveo_py.Source("xx-emulator-local-key", ORG)
    members = [pc.IdentityModel({}, name, "USER") for name in ("alice", "bob", "david")]
    group_model = pc.SecurityIdentityModel(
        Identity=pc.IdentityModel({}, "AlphaTeam", "GROUP"), Members=members, WellKnowns=[]
    )
    assert source.createOrUpdateSecurityIdentity(PROVIDER, group_model).status_code == 202
    for name in ("alice", "bob", "david"):
        alias = pc.SecurityIdentityAliasModel(
            Identity=pc.IdentityModel({}, name, "USER"),
            WellKnowns=[],
            Mappings=[pc.AliasMapping({}, f"{name}@example.com", "USER", EMAIL)],
        )
        assert source.createOrUpdateSecurityIdentityAlias(PROVIDER, alias).status_code == 202
    # The client's default permissions make an item public: say explicitly who may see it.
    document = (
        coveo_py.DocumentBuilder(WORKED_ITEM, "My text")
        .withData("Hello")
        .withAuthor("Alice Smith")
        .withAllowAnonymousUsers(False)
        .withAllowedPermissions(coveo_py.GroupSecurityIdentityBuilder("AlphaTeam", PROVIDER))
        .withDeniedPermissions(coveo_py.UserSecurityIdentityBuilder("bob@example.com"))
    )
    assert source.addOrUpdateDocument(SOURCE, document).status_code == 202

    access = coveo.effective(WORKED_ITEM)
    assert access["alice"] is True and access["david"] is True and access["bob"] is False
    indexed = coveo.item(WORKED_ITEM)
    assert indexed is not None
    # permanentId (camelCase, as this client sends it) is indexed as the case-insensitive 'permanentid'
    assert len(indexed["metadata"]["permanentid"]) == 60

    # Its batch flow: POST /files, PUT uploadUri with requiredHeaders, PUT documents/batch?fileId=
    batch = coveo_py.BatchUpdate(
        addOrUpdate=[coveo_py.DocumentBuilder("https://example.com/doc/0", "Doc 0").withData("zero")],
        delete=[pc.BatchDelete(documentId=WORKED_ITEM, deleteChildren=False)],
    )
    assert source.batchUpdateDocuments(SOURCE, batch).status_code == 202
    assert coveo.found("https://example.com/doc/0")["indexed"] is True
    assert coveo.found(WORKED_ITEM)["indexed"] is False
    # and its delete, called the way that works (Source.deleteDocument drops deleteChildren)
    assert (
        source.client.deleteDocument(SOURCE, "https://example.com/doc/0", deleteChildren=True).status_code
        == 202
    )
    assert coveo.found("https://example.com/doc/0")["indexed"] is False
    # and its identity delete (a DELETE with a JSON body) disables the identity
    delete = pc.SecurityIdentityDelete(Identity=pc.IdentityModel({}, "bob", "USER"))
    assert source.deleteSecurityIdentity(PROVIDER, delete).status_code == 202
    assert coveo.identities()["bob"]["state"] == "DISABLED"
