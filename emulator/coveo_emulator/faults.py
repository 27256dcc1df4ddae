"""Fault rules: make the emulator misbehave the way Coveo (or the network) does, reproducibly.

A rule names routes, an action and a probability. One seeded RNG draws for every rule a request
matches, in rule order, so the same seed and the same request sequence give the same faults.

Rule format (PUT /_emulator/faults)::

    {"seed": 42, "rules": [
        {"route": "PUT /push/v1/organizations/*/sources/*/documents", "action": "429",
         "probability": 0.5, "retryAfter": 2, "count": 3}
    ]}

``route`` is ``"<METHOD> <pattern>"``; METHOD may be ``*``; the pattern is an fnmatch glob matched
against the route template (``/push/v1/organizations/{organizationId}/...``) and against the
concrete path. Actions: ``429`` (with ``Retry-After``), ``500``, ``503``, ``504``, ``drop`` (close
the connection without an answer; the request has no effect), ``delay`` (wait ``delaySeconds``,
then answer normally), ``lose`` (answer normally, e.g. 202, but silently drop the operation).
"""

from __future__ import annotations

import fnmatch
import random
from dataclasses import dataclass
from typing import Any

ACTIONS = ("429", "500", "503", "504", "drop", "delay", "lose")


@dataclass(slots=True)
class FaultRule:
    method: str
    pattern: str
    action: str
    probability: float = 1.0
    retry_after: float = 1.0
    delay_s: float = 0.0
    count: int | None = None
    fired: int = 0

    def matches(self, method: str, template: str, path: str) -> bool:
        if self.method not in ("*", method):
            return False
        return fnmatch.fnmatchcase(template, self.pattern) or fnmatch.fnmatchcase(path, self.pattern)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "route": f"{self.method} {self.pattern}",
            "action": self.action,
            "probability": self.probability,
            "fired": self.fired,
        }
        if self.action == "429":
            out["retryAfter"] = self.retry_after
        if self.action == "delay":
            out["delaySeconds"] = self.delay_s
        if self.count is not None:
            out["count"] = self.count
        return out


class FaultConfigError(ValueError):
    pass


def _number(raw: dict[str, Any], key: str, default: float, lo: float, hi: float | None = None) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultConfigError(f"'{key}' must be a number")
    if value < lo or (hi is not None and value > hi):
        raise FaultConfigError(f"'{key}' must be between {lo} and {hi if hi is not None else 'infinity'}")
    return float(value)


def parse_rule(raw: object, position: int) -> FaultRule:
    if not isinstance(raw, dict):
        raise FaultConfigError(f"rules[{position}] must be an object")
    route = raw.get("route")
    if not isinstance(route, str) or " " not in route.strip():
        raise FaultConfigError(f"rules[{position}].route must be '<METHOD> <route template or glob>'")
    method, pattern = route.strip().split(None, 1)
    action = str(raw.get("action", ""))
    if action not in ACTIONS:
        raise FaultConfigError(f"rules[{position}].action must be one of {', '.join(ACTIONS)}")
    count = raw.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        raise FaultConfigError(f"rules[{position}].count must be a non-negative integer")
    return FaultRule(
        method=method.upper(),
        pattern=pattern.strip(),
        action=action,
        probability=_number(raw, "probability", 1.0, 0.0, 1.0),
        retry_after=_number(raw, "retryAfter", 1.0, 0.0),
        delay_s=_number(raw, "delaySeconds", 0.0, 0.0, 600.0),
        count=count,
    )


class FaultInjector:
    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self.seed = 0
        self._rng = random.Random(0)
        self.injected = 0

    @property
    def active(self) -> bool:
        return bool(self.rules)

    def configure(self, body: object) -> None:
        if not isinstance(body, dict):
            raise FaultConfigError("the body must be an object {seed, rules}")
        seed = body.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise FaultConfigError("'seed' must be an integer")
        rules = body.get("rules", [])
        if not isinstance(rules, list):
            raise FaultConfigError("'rules' must be an array (empty clears every rule)")
        parsed = [parse_rule(r, i) for i, r in enumerate(rules)]
        self.rules = parsed
        self.seed = seed
        self._rng = random.Random(seed)

    def clear(self) -> None:
        self.rules = []
        self.seed = 0
        self._rng = random.Random(0)
        self.injected = 0

    def decide(self, method: str, template: str, path: str) -> FaultRule | None:
        """The rule that fires for this request, if any (a draw is made for every live match)."""
        chosen: FaultRule | None = None
        for rule in self.rules:
            if rule.count is not None and rule.fired >= rule.count:
                continue
            if not rule.matches(method, template, path):
                continue
            draw = self._rng.random()
            if chosen is None and draw < rule.probability:
                chosen = rule
        if chosen is not None:
            chosen.fired += 1
            self.injected += 1
        return chosen

    def to_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "rules": [r.to_json() for r in self.rules], "injected": self.injected}
