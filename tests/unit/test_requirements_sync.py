"""The layer's runtime dependencies: ranges written twice, and a lock generated from them.

`layers/<name>/requirements.in` holds the ranges, the same list as `[project].dependencies`.
`layers/<name>/requirements.txt` is the lock `make lock` writes from it (every package pinned, with
hashes, for Lambda's Python and architecture); `sam build` installs the layer from the lock. These
checks need no network: they run in `make lint` and `make test`. They fail when the ranges and the
lock disagree (a range's package missing from the lock or pinned outside the range, a pin left
over from a removed range, a pin without hashes); the fix is `make lock`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LAYERS = sorted(path.parent for path in (ROOT / "layers").glob("*/requirements.in"))
FIX = "run `make lock` (it rewrites requirements.txt from requirements.in)"


def normalized(lines: list[str]) -> set[str]:
    return {str(Requirement(line)) for line in lines}


def ranges(layer: Path) -> list[str]:
    return [
        line.strip()
        for line in (layer / "requirements.in").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


@dataclass
class Pin:
    requirement: Requirement
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)

    @property
    def version(self) -> str:
        (specifier,) = self.requirement.specifier
        return specifier.version


def pins(layer: Path) -> dict[str, Pin]:
    """The lock's entries by package name: `name==version \\ --hash=... # via ...` as uv writes them."""
    found: dict[str, Pin] = {}
    current: Pin | None = None
    text = (layer / "requirements.txt").read_text().replace("\\\n", " ")
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            # `# via a`, or `# via` followed by one `#   a` line per package.
            if current is not None:
                names = re.sub(r"^#\s*(via\b)?", "", line).strip()
                current.via.extend(name for name in [names] if name)
            continue
        requirement, *options = re.split(r"\s+(?=--)", line)
        current = Pin(Requirement(requirement))
        current.hashes = [
            option.removeprefix("--hash=") for option in options if option.startswith("--hash=")
        ]
        found[canonicalize_name(current.requirement.name)] = current
    return found


def test_there_is_a_layer_with_ranges_and_a_lock() -> None:
    assert LAYERS, "no layers/*/requirements.in found"
    for layer in LAYERS:
        assert (layer / "requirements.txt").is_file(), f"{layer.relative_to(ROOT)}: no lock; {FIX}"


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: layer.name)
def test_the_ranges_match_pyproject_dependencies(layer: Path) -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert normalized(ranges(layer)) == normalized(dependencies), (
        f"{layer.relative_to(ROOT)}/requirements.in and [project].dependencies in pyproject.toml "
        "disagree; edit both (the layer ships exactly the runtime dependencies), then `make lock`"
    )


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: layer.name)
def test_every_locked_package_is_pinned_exactly_with_hashes(layer: Path) -> None:
    locked = pins(layer)
    assert locked, f"{layer.relative_to(ROOT)}/requirements.txt pins nothing; {FIX}"
    for name, pin in locked.items():
        specifiers = list(pin.requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", f"{name} is not pinned with ==; {FIX}"
        assert pin.hashes and all(h.startswith("sha256:") for h in pin.hashes), (
            f"{name}=={pin.version} has no sha256 hash in the lock; {FIX}"
        )


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: layer.name)
def test_every_range_is_pinned_inside_it(layer: Path) -> None:
    locked = pins(layer)
    for line in ranges(layer):
        wanted = Requirement(line)
        pin = locked.get(canonicalize_name(wanted.name))
        assert pin is not None, f"{wanted.name} is in requirements.in but not in the lock; {FIX}"
        assert wanted.specifier.contains(pin.version, prereleases=True), (
            f"the lock pins {wanted.name}=={pin.version}, outside requirements.in's {wanted}; {FIX}"
        )


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: layer.name)
def test_every_pin_is_wanted_by_a_range_or_another_pin(layer: Path) -> None:
    locked = pins(layer)
    wanted = {canonicalize_name(Requirement(line).name) for line in ranges(layer)}
    for name, pin in locked.items():
        reasons = {via if via.startswith("-r ") else canonicalize_name(via.split()[0]) for via in pin.via}
        from_ranges = any(reason.startswith("-r ") for reason in reasons)
        from_pins = any(reason in locked for reason in reasons if not reason.startswith("-r "))
        assert (from_ranges and name in wanted) or from_pins, (
            f"the lock pins {name}=={pin.version} but nothing in requirements.in needs it any more; {FIX}"
        )


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: layer.name)
def test_the_layer_does_not_ship_boto3(layer: Path) -> None:
    # The Lambda runtime provides boto3; bundling it adds ~80 MB and cold-start time.
    assert all(Requirement(line).name != "boto3" for line in ranges(layer))
    assert {"boto3", "botocore"}.isdisjoint(pins(layer)), "boto3 reached the lock through a dependency"
