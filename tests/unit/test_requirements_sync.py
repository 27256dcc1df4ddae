"""The layer's runtime requirements and pyproject's dependencies are one list, written twice."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def normalized(lines: list[str]) -> set[str]:
    return {str(Requirement(line)) for line in lines}


def layer_requirements(path: Path) -> list[str]:
    return [
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_every_layer_matches_pyproject_dependencies() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    layers = sorted((ROOT / "layers").glob("*/requirements.txt"))
    assert layers, "no layers/*/requirements.txt found"
    for path in layers:
        assert normalized(layer_requirements(path)) == normalized(dependencies), (
            f"{path.relative_to(ROOT)} and [project].dependencies in pyproject.toml disagree; "
            "edit both (the layer ships exactly the runtime dependencies)"
        )


def test_the_layer_does_not_ship_boto3() -> None:
    # The Lambda runtime provides boto3; bundling it adds ~80 MB and cold-start time.
    for path in (ROOT / "layers").glob("*/requirements.txt"):
        assert all(Requirement(line).name != "boto3" for line in layer_requirements(path))
