"""template.yaml passes AWS's own linters (cfn-lint with the serverless rules; sam validate when installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_cfn_lint_with_serverless_rules_is_clean() -> None:
    result = subprocess.run(
        [str(BIN / "cfn-lint"), "template.yaml", "-a", "cfn_lint_serverless.rules"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint_is_clean() -> None:
    sam = ROOT / ".venv" / "sam-cli" / "bin" / "sam"
    if not sam.exists():
        sam_path = shutil.which("sam")
        if sam_path is None:
            pytest.skip("aws-sam-cli not installed (make install-sam, or make lint, installs it)")
        sam = Path(sam_path)
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run(
        [str(sam), "validate", "--lint", "--template", "template.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
