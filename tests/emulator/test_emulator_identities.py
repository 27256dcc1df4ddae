"""Security identities: aliases, disable, disable older than, the security cache route."""

from __future__ import annotations

from tests.emulator.emulator_helpers import EMAIL, PROVIDER, WORKED_ITEM, Coveo, group, item_body, user


def test_alias_creates_the_email_user_and_links_both_ways(coveo: Coveo) -> None:
    body = {
        "identity": {"name": "alice", "type": "USER"},
        "mappings": [{"name": "alice@example.com", "type": "USER"}],
    }
    assert coveo.put_mapping(body).status_code == 202  # provider omitted: the only cascading provider
    email_user = coveo.entity("alice@example.com", "User", EMAIL)
    assert email_user.status_code == 200
    assert email_user.json()["state"] == "UP_TO_DATE"
    assert email_user.json()["provider"] == EMAIL
    coveo.put_item("file://by-email", item_body(allowed=[user("alice@example.com", EMAIL)]))
    assert coveo.effective("file://by-email") == {"alice@example.com": True, "alice": True}


def test_alias_to_a_provider_that_is_not_cascaded_to_fails(coveo: Coveo) -> None:
    body = {
        "identity": {"name": "mallory", "type": "USER"},
        "mappings": [{"name": "mallory", "type": "USER", "provider": "Some Other Provider"}],
    }
    assert coveo.put_mapping(body).status_code == 202
    entity = coveo.entity("mallory").json()
    assert entity["state"] == "IN_ERROR"
    assert entity["lastUpdateResult"] == "ENTITY_IS_INVALID"
    assert "Some Other Provider" in entity["lastUpdateErrorDetail"]
    assert "Some Other Provider" not in coveo.state()["identities"]


def test_identity_delete_disables_it(worked_identities: Coveo) -> None:
    coveo = worked_identities
    coveo.put_item(WORKED_ITEM, item_body(allowed=[group("AlphaTeam")]))
    assert coveo.effective(WORKED_ITEM)["alice"] is True
    assert coveo.delete_identity({"identity": {"name": "alice", "type": "USER"}}).status_code == 202
    assert coveo.entity("alice").json()["state"] == "DISABLED"
    assert coveo.effective(WORKED_ITEM)["alice"] is False
    assert coveo.effective(WORKED_ITEM)["david"] is True
    # pushing it again enables it
    coveo.put_identity({"identity": {"name": "alice", "type": "USER"}})
    assert coveo.entity("alice").json()["state"] == "UP_TO_DATE"
    assert coveo.effective(WORKED_ITEM)["alice"] is True


def test_disabled_group_no_longer_grants_access(worked_identities: Coveo) -> None:
    coveo = worked_identities
    coveo.put_item(WORKED_ITEM, item_body(allowed=[group("AlphaTeam")]))
    coveo.delete_identity({"identity": {"name": "AlphaTeam", "type": "GROUP"}})
    assert not any(coveo.effective(WORKED_ITEM).values())


def test_disable_identities_older_than(coveo: Coveo) -> None:
    coveo.put_identity({"identity": {"name": "old", "type": "USER"}}, orderingId=100)
    coveo.put_identity({"identity": {"name": "edge", "type": "USER"}}, orderingId=200)
    coveo.put_identity({"identity": {"name": "new", "type": "USER"}}, orderingId=300)
    response = coveo.http.delete(
        f"{coveo.provider}/permissions/olderthan", params={"orderingId": 200, "queueDelay": 0}
    )
    assert response.status_code == 202
    states = {name: i["state"] for name, i in coveo.identities().items()}
    assert states == {"old": "DISABLED", "edge": "UP_TO_DATE", "new": "UP_TO_DATE"}


def test_stale_identity_update_is_skipped(coveo: Coveo) -> None:
    team = {"identity": {"name": "Team", "type": "GROUP"}}
    coveo.put_identity({**team, "members": [{"name": "new", "type": "USER"}]}, orderingId=20)
    coveo.put_identity({**team, "members": [{"name": "old", "type": "USER"}]}, orderingId=10)
    assert [m["name"] for m in coveo.identities()["Team"]["members"]] == ["new"]
    assert any(e["result"] == "SKIPPED" for e in coveo.state()["identityLog"])


def test_security_cache_entity_route(worked_identities: Coveo) -> None:
    coveo = worked_identities
    found = coveo.entity("AlphaTeam", "Group")
    assert found.status_code == 200
    assert found.json()["type"] == "Group"
    assert found.json()["state"] == "UP_TO_DATE"
    assert coveo.entity("AlphaTeam", "GROUP").json()["name"] == "AlphaTeam"
    assert coveo.entity("nobody").status_code == 404
    unknown_provider = coveo.entity("alice", "User", "No Such Provider")
    assert unknown_provider.status_code == 404
    listing = coveo.http.get(f"{coveo.rest}/securitycache/entities/{PROVIDER}", params={"perPage": 2}).json()
    assert listing["totalEntries"] == 4 and listing["totalPages"] == 2


def test_security_cache_children_are_the_members_of_the_last_applied_push(coveo: Coveo) -> None:
    def children(name: str, **params: object) -> list[tuple[str, str]]:
        response = coveo.http.post(
            f"{coveo.rest}/securitycache/entities/{PROVIDER}/members/children",
            params=params,
            json={"name": name, "type": "Group", "provider": PROVIDER},
        )
        assert response.status_code == 200, response.text
        return [(m["type"], m["name"]) for m in response.json()["items"]]

    def member(name: str, identity_type: str = "USER") -> dict[str, str]:
        return {"name": name, "type": identity_type}

    coveo.put_identity({"identity": {"name": "Inner", "type": "GROUP"}, "members": [member("carol")]})
    team = {"identity": {"name": "Team", "type": "GROUP"}}
    coveo.put_identity({**team, "members": [member("alice"), member("bob"), member("Inner", "GROUP")]})
    assert children("Team") == [("Group", "Inner"), ("User", "alice"), ("User", "bob")]
    assert children("Team", recursive="true") == [
        ("Group", "Inner"),
        ("User", "alice"),
        ("User", "bob"),
        ("User", "carol"),
    ]
    assert children("Team", pageSize=2, page=1) == [("User", "bob")]
    coveo.put_identity({**team, "members": [member("alice")]})  # a group push replaces its members
    assert children("Team") == [("User", "alice")]
    # a user naming the group in its wellKnowns is not one of the members the group was pushed with
    coveo.put_identity(
        {"identity": {"name": "dora", "type": "USER"}, "wellKnowns": [member("Team", "GROUP")]}
    )
    assert children("Team") == [("User", "alice")]
    missing = coveo.http.post(
        f"{coveo.rest}/securitycache/entities/{PROVIDER}/members/children",
        json={"name": "Nobody", "type": "Group", "provider": PROVIDER},
    )
    assert missing.status_code == 404


def test_bad_identity_bodies_are_400(coveo: Coveo) -> None:
    assert coveo.put_identity({"members": []}).status_code == 400
    assert coveo.put_identity({"identity": {"name": "x", "type": "ROBOT"}}).status_code == 400
    assert coveo.put_mapping({"identity": {"name": "x", "type": "USER"}}).status_code == 400
    assert coveo.delete_identity({}).status_code == 400
    assert coveo.state()["pendingOperations"] == 0
