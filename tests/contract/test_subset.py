"""The condensed description (coveo_push_subset.json): well formed always, and saying exactly what
the published specs say about our routes and definitions whenever they are beside the checkout."""

from __future__ import annotations

import hashlib
import re

import pytest

from . import coveo_spec
from .coveo_spec import APIS, SPEC_DIR, load_published, load_subset, requires_all_specs

pytestmark = [pytest.mark.contract]


def test_the_subset_names_its_sources_and_describes_each_route_once() -> None:
    subset = load_subset()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", subset["condensedOn"])
    assert set(subset["sources"]) == set(APIS)
    for api, source in subset["sources"].items():
        assert source["file"] == APIS[api][0]
        assert source["version"] and source["title"] and len(source["sha256"]) == 64
    routes = [(op["method"], re.sub(r"\{[^}]+\}", "{}", op["path"])) for op in subset["operations"]]
    assert len(routes) == len(set(routes)), "a route is described twice"
    for op in subset["operations"]:
        assert op["note"] and op["usedBy"] in ("client", "emulator"), op["path"]
        assert op["api"] in (*APIS, "platform"), op["path"]
        if op["spec"] is None:
            assert "coveo-push-api.md §" in op["note"], f"{op['path']}: say where it is documented"
        else:
            assert op["spec"]["file"] == APIS[op["api"]][0]
            assert op["path"] == APIS[op["api"]][1] + op["spec"]["path"]
        if op["body"] is not None:
            assert op["body"] in subset["definitions"][op["api"]]
        assert [p["name"] for p in op["query"]] == sorted(p["name"] for p in op["query"])


@requires_all_specs
@pytest.mark.parametrize("api", sorted(APIS))
def test_the_subset_was_condensed_from_these_files(api: str) -> None:
    """The header's title and version are the published file's. A different digest alone is no
    failure (prose changes often); it says the file changed since, which the next test weighs."""
    source = load_subset()["sources"][api]
    info = load_published(api)["info"]
    assert (source["title"], source["version"]) == (info["title"], info["version"])
    digest = hashlib.sha256((SPEC_DIR / source["file"]).read_bytes()).hexdigest()
    if digest != source["sha256"]:
        pytest.skip(f"{source['file']} changed since it was condensed; the agreement test still holds it")


def _described_routes() -> list[dict[str, object]]:
    return [op for op in load_subset()["operations"] if op["spec"] is not None]


@requires_all_specs
@pytest.mark.parametrize("operation", _described_routes(), ids=lambda op: f"{op['method']} {op['path']}")
def test_subset_agrees_with_the_published_spec_on_each_route(operation: dict[str, object]) -> None:
    """Its query parameters (every one the spec documents, with type, format, enum, minimum,
    default, required, array form) and its body's definition are the spec's; a field the client
    reads has the spec's type."""
    api, pointer = str(operation["api"]), operation["spec"]
    assert isinstance(pointer, dict)
    published = coveo_spec.condensed_operation(api, str(operation["method"]), pointer["path"])
    assert {"query": operation["query"], "body": operation["body"]} == published
    for field, ours in dict(operation.get("reads", {})).items():  # type: ignore[call-overload]
        assert (
            coveo_spec.read_field(str(operation["method"]), str(operation["path"]), field, "published")
            == ours
        )


@requires_all_specs
@pytest.mark.parametrize("api", sorted(load_subset()["definitions"]))
def test_subset_agrees_with_the_published_spec_on_each_definition(api: str) -> None:
    """The definitions are the published ones our bodies use (and those they refer to), without
    prose: nothing added, nothing left out, nothing retyped."""
    ours = load_subset()["definitions"][api]
    roots = {op["body"] for op in load_subset()["operations"] if op["api"] == api and op["body"]}
    published = coveo_spec.condensed_definitions(api, roots)
    assert sorted(ours) == sorted(published)
    for name in ours:
        assert ours[name] == published[name], name
