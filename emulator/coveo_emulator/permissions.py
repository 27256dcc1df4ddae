"""Permission evaluation as Coveo documents it (reference §3.2, DOC-1526, DOC-2007).

* Within a permission level, an identity is allowed when it is allowed in **every** permission set
  (an ``allowAnonymous`` set allows everyone) and denied in **none**; a level that does not mention
  the identity is inconclusive.
* Levels are analysed in order; the first conclusive level wins; if none is, access is denied.
* "The identity" is a user together with everything it resolves to in the security cache: its
  aliases in other providers (e.g. the Email Security Provider), the groups that list any of those
  as a member (recursively) and the groups they declare through ``wellKnowns``.

Pure functions over a small graph interface; state.SecurityCache implements it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain
from typing import Protocol

from coveo_emulator.wire import PermissionIdentity, PermissionLevel

EntityKey = tuple[str, str, str]  # (provider, TYPE, name)

ALLOW = "ALLOW"
DENY = "DENY"
INCONCLUSIVE = "INCONCLUSIVE"


class IdentityGraph(Protocol):
    def resolve(self, provider: str, identity_type: str, name: str) -> list[EntityKey]: ...
    def groups_of(self, key: EntityKey) -> Iterable[EntityKey]: ...
    def members_of(self, key: EntityKey) -> Iterable[EntityKey]: ...
    def aliases_of(self, key: EntityKey) -> Iterable[EntityKey]: ...
    def is_enabled(self, key: EntityKey) -> bool: ...
    def state_of(self, p: PermissionIdentity) -> str: ...


class Principal:
    """Everything one user is, for matching against permission entries."""

    def __init__(self, keys: Iterable[EntityKey]) -> None:
        self.keys = frozenset(keys)
        self._by_name: dict[tuple[str, str], set[str]] = {}
        for provider, identity_type, name in self.keys:
            self._by_name.setdefault((provider, name), set()).add(identity_type)

    def matches(self, p: PermissionIdentity) -> bool:
        if p.is_pattern:
            return any(
                k[0] == p.provider and k[1] == "USER" and fnmatch.fnmatchcase(k[2], p.identity)
                for k in self.keys
            )
        types = self._by_name.get((p.provider, p.identity))
        if not types:
            return False
        return p.identity_type == "UNKNOWN" or p.identity_type in types or "UNKNOWN" in types


ANONYMOUS = Principal(())


def principal_of(graph: IdentityGraph, user: EntityKey) -> Principal:
    """The user, its aliases and every enabled group it belongs to (members, nesting, wellKnowns)."""
    if not graph.is_enabled(user):
        return ANONYMOUS  # a disabled identity can no longer sign in
    seen = {user}
    stack = [user]
    while stack:
        key = stack.pop()
        for nxt in chain(graph.aliases_of(key), graph.groups_of(key)):
            if nxt not in seen and graph.is_enabled(nxt):
                seen.add(nxt)
                stack.append(nxt)
    return Principal(seen)


def evaluate_level(level: PermissionLevel, who: Principal) -> str:
    if not level.sets:
        return INCONCLUSIVE
    mentioned = all(s.allow_anonymous for s in level.sets)
    allowed_everywhere = True
    for permission_set in level.sets:
        if any(who.matches(p) for p in permission_set.denied):
            return DENY
        explicitly = any(who.matches(p) for p in permission_set.allowed)
        mentioned = mentioned or explicitly
        if not (explicitly or permission_set.allow_anonymous):
            allowed_everywhere = False
    if not mentioned:
        return INCONCLUSIVE
    return ALLOW if allowed_everywhere else DENY


def is_allowed(levels: list[PermissionLevel], who: Principal) -> bool:
    for level in levels:
        verdict = evaluate_level(level, who)
        if verdict != INCONCLUSIVE:
            return verdict == ALLOW
    return False


def all_entries(levels: list[PermissionLevel]) -> Iterable[tuple[int, bool, PermissionIdentity]]:
    """(level index, allowed?, entry) for every identity of the model."""
    for index, level in enumerate(levels):
        for permission_set in level.sets:
            for p in permission_set.allowed:
                yield index, True, p
            for p in permission_set.denied:
                yield index, False, p


def reachable_users(graph: IdentityGraph, levels: list[PermissionLevel]) -> list[EntityKey]:
    """Every user the model can resolve to: named users, members of named groups (nested, and
    identities declaring them as wellKnowns) and the aliases of all of those."""
    seen: set[EntityKey] = set()
    stack: list[EntityKey] = []
    for _, _, p in all_entries(levels):
        for key in graph.resolve(p.provider, p.identity_type, p.identity):
            if key not in seen:
                seen.add(key)
                stack.append(key)
    while stack:
        key = stack.pop()
        if not graph.is_enabled(key):
            continue  # a disabled group no longer expands
        for nxt in chain(graph.members_of(key), graph.aliases_of(key)):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    users = [k for k in seen if k[1] == "USER" or (k[1] == "UNKNOWN" and not any(graph.members_of(k)))]
    return sorted(users)


@dataclass(frozen=True, slots=True)
class ModelState:
    state: str  # VALID, INCOMPLETE, IN_ERROR, WARNING (PENDING is decided by the caller)
    cause: PermissionIdentity | None = None
    cause_state: str | None = None


def model_state(graph: IdentityGraph, levels: list[PermissionLevel]) -> ModelState:
    """SPEC-SRC DocumentPermissionModel.state from the states of the identities it names.

    IN_ERROR: a denied identity of level 0 not successfully updated; WARNING: a denied identity
    out of date; INCOMPLETE: an allowed identity not up to date, or a denied identity of a later
    level not successfully updated. Disabled identities are a deliberate state, not an error.
    """
    in_error: tuple[PermissionIdentity, str] | None = None
    warning: tuple[PermissionIdentity, str] | None = None
    incomplete: tuple[PermissionIdentity, str] | None = None
    for level_index, allowed, p in all_entries(levels):
        state = graph.state_of(p)
        if state in ("UP_TO_DATE", "DISABLED"):
            continue
        if allowed:
            incomplete = incomplete or (p, state)
        elif state == "OUT_OF_DATE":
            warning = warning or (p, state)
        elif level_index == 0:
            in_error = in_error or (p, state)
        else:
            incomplete = incomplete or (p, state)
    for name, found in (("IN_ERROR", in_error), ("WARNING", warning), ("INCOMPLETE", incomplete)):
        if found is not None:
            return ModelState(name, found[0], found[1])
    return ModelState("VALID")
