"""Permission evaluation rules, without HTTP (coveo_emulator.permissions is pure)."""

from __future__ import annotations

from coveo_emulator.permissions import ANONYMOUS, is_allowed, model_state, principal_of
from coveo_emulator.state import SecurityCache
from coveo_emulator.wire import PermissionIdentity, PermissionLevel, PermissionSet, parse_permissions

P = "provider"


def cache_with(*users: str, groups: dict[str, list[str]] | None = None) -> SecurityCache:
    cache = SecurityCache()
    for name in users:
        cache.ensure((P, "USER", name), "pushed", "UP_TO_DATE", 0, 1)
    for name, members in (groups or {}).items():
        cache.ensure((P, "GROUP", name), "pushed", "UP_TO_DATE", 0, 1)
        cache.set_members((P, "GROUP", name), [(P, "USER", m) for m in members])
    return cache


def ident(name: str, identity_type: str = "USER") -> PermissionIdentity:
    return PermissionIdentity(name, identity_type, P)


def level(*sets: PermissionSet) -> PermissionLevel:
    return PermissionLevel("", list(sets))


def pset(
    allowed: tuple[str, ...] | list[str] = (),
    denied: tuple[str, ...] | list[str] = (),
    anonymous: bool = False,
) -> PermissionSet:
    return PermissionSet("", anonymous, [ident(a) for a in allowed], [ident(d) for d in denied])


def test_allowed_in_every_set_and_denied_in_none() -> None:
    cache = cache_with("ann", "ben", "cid")
    model = [level(pset(["ann", "ben"]), pset(["ann", "cid"]))]
    assert is_allowed(model, principal_of(cache, (P, "USER", "ann")))
    assert not is_allowed(model, principal_of(cache, (P, "USER", "ben")))  # missing from the second set
    denied = [level(pset(["ann"]), pset(["ann"], denied=["ann"]))]
    assert not is_allowed(denied, principal_of(cache, (P, "USER", "ann")))


def test_first_conclusive_level_wins_and_nobody_named_is_denied() -> None:
    cache = cache_with("ann", "ben")
    model = [level(pset(["ann"])), level(pset(["ben"], denied=["ann"]))]
    assert is_allowed(model, principal_of(cache, (P, "USER", "ann")))  # level 1 decides
    assert is_allowed(model, principal_of(cache, (P, "USER", "ben")))  # inconclusive at level 1
    assert not is_allowed([level(pset(["ben"]))], principal_of(cache, (P, "USER", "ann")))
    assert not is_allowed([], principal_of(cache, (P, "USER", "ann")))


def test_anonymous_sets() -> None:
    cache = cache_with("ann", "ben")
    public = [level(pset(anonymous=True))]
    assert is_allowed(public, ANONYMOUS)
    assert is_allowed(public, principal_of(cache, (P, "USER", "ann")))
    public_but_ben = [level(pset(denied=["ben"], anonymous=True))]
    assert not is_allowed(public_but_ben, principal_of(cache, (P, "USER", "ben")))
    # an anonymous set AND a named set: anonymous users are not named in the second one
    mixed = [level(pset(anonymous=True), pset(["ann"]))]
    assert is_allowed(mixed, principal_of(cache, (P, "USER", "ann")))
    assert not is_allowed(mixed, ANONYMOUS)


def test_groups_nest_and_a_disabled_group_stops_expanding() -> None:
    cache = cache_with("ann", groups={"inner": ["ann"]})
    cache.ensure((P, "GROUP", "outer"), "pushed", "UP_TO_DATE", 0, 1)
    cache.set_members((P, "GROUP", "outer"), [(P, "GROUP", "inner")])
    model = [level(PermissionSet("", False, [ident("outer", "GROUP")], []))]
    assert is_allowed(model, principal_of(cache, (P, "USER", "ann")))
    inner = cache.get((P, "GROUP", "inner"))
    assert inner is not None
    inner.state = "DISABLED"
    assert not is_allowed(model, principal_of(cache, (P, "USER", "ann")))


def test_identity_types_match_case_insensitively_and_unknown_matches_any() -> None:
    cache = cache_with("ann")
    levels, count = parse_permissions(
        [{"allowedPermissions": [{"identity": "ann", "identityType": "Unknown"}]}], default_provider=P
    )
    assert count == 1
    assert is_allowed(levels, principal_of(cache, (P, "USER", "ann")))
    levels, _ = parse_permissions([{"allowedPermissions": [{"identity": "ann", "identityType": "user"}]}], P)
    assert levels[0].sets[0].allowed[0].identity_type == "USER"


def test_model_state_names_its_root_cause() -> None:
    cache = cache_with("ann", "ben")
    broken = cache.ensure((P, "USER", "zed"), "pushed", "IN_ERROR", 0, 1)
    assert broken.state == "IN_ERROR"
    assert model_state(cache, [level(pset(["ann"]))]).state == "VALID"
    verdict = model_state(cache, [level(pset(["ann"], denied=["zed"]))])
    assert (verdict.state, verdict.cause and verdict.cause.identity) == ("IN_ERROR", "zed")
    # denied and not updated, but in a later level: INCOMPLETE
    assert (
        model_state(cache, [level(pset(["ann"])), level(pset(["ben"], denied=["zed"]))]).state == "INCOMPLETE"
    )
