"""`coveo-push local --parameter NAME=VALUE`: template parameters, checked against the template.

The template is read when the command runs (nothing here lists its parameters): a name it does not
declare, or a value its `Type`, `AllowedValues`, `MinValue`, `MaxValue`, `AllowedPattern`,
`MinLength` or `MaxLength` refuses, is the user's error and names the parameter, as CloudFormation
would refuse it at deploy time. A valid parameter that reaches nothing the local run creates or
runs (a log group's retention, the alarms, the schedule) is accepted with a note saying so.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# What the local run creates or runs from the template: these resource types (provisioned on
# moto), and the functions' environment, timeout, memory and SQS event sources (the pollers).
LOCAL_RESOURCE_TYPES = frozenset({"AWS::SQS::Queue", "AWS::DynamoDB::Table", "AWS::S3::Bucket"})
FUNCTION_TYPE = "AWS::Serverless::Function"
LOCAL_FUNCTION_PROPERTIES = frozenset({"Environment", "Timeout", "MemorySize"})
# The functions' variables the emulator's own values replace (its organization, source, provider;
# COVEO_BASE_URL instead of the region's host): the parameters behind them change nothing locally.
EMULATOR_VARIABLES = frozenset(
    {"COVEO_ORGANIZATION_ID", "COVEO_SOURCE_ID", "COVEO_PROVIDER_ID", "COVEO_REGION"}
)
# Read by the local provisioning itself: the name of the secret that holds the emulator's key.
PROVISIONING_PARAMETERS = frozenset({"CoveoApiKeySecretName"})
# Lambda takes only whole numbers in these properties.
WHOLE_NUMBER_PROPERTIES = frozenset(
    {"BatchSize", "MaximumBatchingWindowInSeconds", "MaximumConcurrency", "Timeout", "MemorySize"}
)
_NUMBER = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
_INTEGER = re.compile(r"-?\d+")


class ParameterError(ValueError):
    """A `--parameter` the template refuses; the message names the parameter and why."""


@dataclass(frozen=True)
class Use:
    """One place the template refers to a parameter: the path to it, and whether the local run
    reads that place (and why not, when it does not)."""

    path: tuple[str, ...]
    local: bool
    why_not: str = ""  # what it sets and why the local run does not read it: "{} ..." names `what`
    what: str = ""


def parse_parameters(texts: Sequence[str], template: Mapping[str, Any]) -> dict[str, str]:
    """`NAME=VALUE` texts as a mapping, each checked against the template's declaration.

    Raises ParameterError naming the parameter: not NAME=VALUE, given twice, not declared (with the
    closest names), or a value the declaration refuses."""
    declared: Mapping[str, Any] = template.get("Parameters") or {}
    given: dict[str, str] = {}
    for text in texts:
        name, sep, value = text.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            raise ParameterError(f"--parameter {text!r}: expected NAME=VALUE")
        if name in given:
            raise ParameterError(f"--parameter {name}: given twice ({given[name]!r} and {value!r})")
        if name not in declared:
            raise ParameterError(_unknown(name, declared))
        problem = check_value(name, value, declared[name] or {})
        if problem is None:
            problem = _whole_number_problem(name, value, declared[name] or {}, template)
        if problem is not None:
            raise ParameterError(f"--parameter {name}={value}: {problem}")
        given[name] = value
    return given


def _unknown(name: str, declared: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(declared), n=3)
    if not close:
        close = [known for known in declared if known.lower() == name.lower()]
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return (
        f"--parameter {name}: the template declares no parameter {name}{hint} "
        f"(it declares: {', '.join(sorted(declared))})"
    )


def check_value(name: str, value: str, declaration: Mapping[str, Any]) -> str | None:
    """Why the declaration refuses `value`, in words; None when it takes it. As CloudFormation
    checks: a Number is a number within MinValue/MaxValue; a String within MinLength/MaxLength and
    matching AllowedPattern whole; either one of AllowedValues when the template lists them."""
    kind = str(declaration.get("Type", "String"))
    constraint = declaration.get("ConstraintDescription")
    because = f" ({constraint})" if constraint else ""
    allowed = declaration.get("AllowedValues")
    if kind == "Number":
        if not _NUMBER.fullmatch(value):
            return f"{name} is a Number and {value!r} is not a number{because}"
        number = float(value)
        if allowed is not None and not any(_same_number(number, option) for option in allowed):
            return f"{name} must be one of {', '.join(str(o) for o in allowed)}{because}"
        low, high = declaration.get("MinValue"), declaration.get("MaxValue")
        if low is not None and number < float(low):
            return f"{name} must be at least {low} (the template's MinValue){because}"
        if high is not None and number > float(high):
            return f"{name} must be at most {high} (the template's MaxValue){because}"
        return None
    if allowed is not None and value not in [str(option) for option in allowed]:
        return f"{name} must be one of {', '.join(repr(str(o)) for o in allowed)}{because}"
    shortest, longest = declaration.get("MinLength"), declaration.get("MaxLength")
    if shortest is not None and len(value) < int(shortest):
        return f"{name} must be at least {shortest} characters long (the template's MinLength){because}"
    if longest is not None and len(value) > int(longest):
        return f"{name} must be at most {longest} characters long (the template's MaxLength){because}"
    pattern = declaration.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(str(pattern), value):
        return f"{name} must match the template's AllowedPattern {pattern}{because}"
    return None


def _same_number(number: float, option: Any) -> bool:
    try:
        return float(option) == number
    except (TypeError, ValueError):
        return False


def _integer_variables() -> frozenset[str]:
    """The functions' environment variables their settings read as integers (LEDGER_TTL_DAYS, ...):
    "1e3" reaching one would stop every function at its cold start."""
    from connector.entry.settings import ConnectorSettings

    return frozenset(
        field.alias
        for field in ConnectorSettings.model_fields.values()
        if field.alias and field.annotation in (int, int | None)
    )


def _whole_number_problem(name: str, value: str, declaration: Mapping[str, Any], template: Any) -> str | None:
    """A Number with a fraction where the template puts it in a property Lambda takes as a whole
    number (a batch size, a timeout): CloudFormation would fail the deployment."""
    if str(declaration.get("Type")) != "Number" or _INTEGER.fullmatch(value):
        return None
    whole = WHOLE_NUMBER_PROPERTIES | _integer_variables()
    places = [use.path for use in uses(template, name) if use.path[-1] in whole]
    if not places:
        return None
    # "1e3" and "500.0" are whole, but not as an integer property takes them.
    return f"{name} must be a whole number written in digits: the template uses it as {_where(places[0])}"


# --- where a parameter goes -------------------------------------------------------------------


def uses(template: Mapping[str, Any], name: str) -> list[Use]:
    """Every place the template refers to parameter `name` (`Ref`, `Fn::Sub`), directly or through
    a condition, and whether the local run reads it."""
    resources: Mapping[str, Any] = template.get("Resources") or {}
    conditions = _conditions_using(template, name)
    found: list[Use] = []
    function_globals = (template.get("Globals") or {}).get("Function") or {}
    for path in _references(function_globals, name, conditions, ("Globals", "Function")):
        found.append(_function_use(path, path[2:]))
    for logical_id, resource in resources.items():
        resource = resource or {}
        base = ("Resources", logical_id)
        paths = list(_references(resource.get("Properties") or {}, name, conditions, (*base, "Properties")))
        if str(resource.get("Condition")) in conditions:
            paths.append((*base, "Condition"))
        kind = str(resource.get("Type"))
        for path in paths:
            if kind in LOCAL_RESOURCE_TYPES:
                found.append(Use(path, True))
            elif kind == FUNCTION_TYPE:
                found.append(_function_use(path, path[3:], resource))
            else:
                found.append(Use(path, False, f"{{}} ({kind}) not created locally", logical_id))
    return found


def _function_use(path: tuple[str, ...], inner: tuple[str, ...], resource: Any = None) -> Use:
    """A function property: its environment, timeout, memory and SQS event sources run locally."""
    where = _where(path)
    if not inner:
        return Use(path, False, f"{where} is not run locally")
    if inner[0] == "Environment":
        variable = inner[2] if len(inner) > 2 else ""
        if variable in EMULATOR_VARIABLES:
            return Use(path, False, f"{variable} is the emulator's own in a local run")
        return Use(path, True)
    if inner[0] in LOCAL_FUNCTION_PROPERTIES:
        return Use(path, True)
    if inner[0] == "Events" and len(inner) > 1 and resource is not None:
        event = ((resource.get("Properties") or {}).get("Events") or {}).get(inner[1]) or {}
        if event.get("Type") == "SQS":
            return Use(path, True)
        return Use(path, False, f"the {event.get('Type')} event {inner[1]} is not created locally")
    return Use(path, False, f"{where} is not simulated locally")


def _where(path: tuple[str, ...]) -> str:
    if path[0] == "Resources":
        rest = [part for part in path[2:] if part not in ("Properties", "Variables")]
        return f"{path[1]}'s {'.'.join(rest)}"
    return ".".join(part for part in path if part != "Variables")


def _conditions_using(template: Mapping[str, Any], name: str) -> set[str]:
    """The template's conditions that depend on the parameter, directly or through another."""
    declared: Mapping[str, Any] = template.get("Conditions") or {}
    using: set[str] = set()
    changed = True
    while changed:
        changed = False
        for condition, expression in declared.items():
            if condition not in using and any(True for _ in _references(expression, name, using, ())):
                using.add(condition)
                changed = True
    return using


def _references(
    value: Any, name: str, conditions: set[str], path: tuple[str, ...]
) -> Iterator[tuple[str, ...]]:
    """Paths under `value` that refer to the parameter, or to a condition that depends on it."""
    if isinstance(value, Mapping):
        condition = value.get("Condition")  # a condition's name; in an IAM statement, a mapping
        if value.get("Ref") == name or (isinstance(condition, str) and condition in conditions):
            yield path
            return
        sub = value.get("Fn::Sub")
        text = sub[0] if isinstance(sub, list) and sub else sub
        if isinstance(text, str) and f"${{{name}}}" in text:
            yield path
            return
        branches = value.get("Fn::If")
        if isinstance(branches, list) and branches and branches[0] in conditions:
            yield path
            return
        for key, inner in value.items():
            yield from _references(inner, name, conditions, (*path, str(key)))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _references(inner, name, conditions, (*path, str(index)))


def no_local_effect(template: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, str]:
    """The given parameters the local run never reads, each with why: parameter → note."""
    notes = {}
    for name in given:
        if name in PROVISIONING_PARAMETERS:
            continue
        found = uses(template, name)
        if any(use.local for use in found):
            continue
        # One phrase per reason, naming everything it covers: "A, B (AWS::Logs::LogGroup) not created".
        reasons: dict[str, list[str]] = {}
        for use in found:
            names = reasons.setdefault(use.why_not, [])
            if use.what not in names:
                names.append(use.what)
        phrases = [reason.replace("{}", ", ".join(names)) for reason, names in reasons.items()]
        notes[name] = "; ".join(phrases) if phrases else "the template does not use it"
    return notes
