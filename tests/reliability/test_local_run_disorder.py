"""The disorder scenario through one default `coveo-push local` run (issue 18): about 660 events over
120 documents, shuffled and duplicated, with Coveo answering 20 % 429, 5 % 503, dropping
connections and losing 5 % of mutations after their 202 (a lost batch first of all). Every
document must end as its newest event says, in one run with the default timeout: the validation
deadline follows the emulator's processing delay, so lost pushes are re-pushed within the run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coveo_push_cli.main import main

from .harness import FaultProfile, disorder, fault_rules, make_workload

SEED = 1
PROVIDER = "mysecurityidentityprovider8d9s8d"  # the emulator's default provider, as a local run has it
PROFILE = FaultProfile(
    throttled=0.20, unavailable=0.05, dropped=0.02, upload_denied=0, lost=0.05, slow=0, too_slow=0
)
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_a_default_local_run_heals_a_disordered_workload_under_faults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workload = make_workload(240, 90, seed=SEED, provider=PROVIDER)
    copies = disorder(workload.events, SEED)
    documents = {event["data"]["documentId"] for event in workload.items}
    assert (len(copies), len(documents)) == (667, 120)
    events = tmp_path / "disorder.jsonl"
    events.write_text("".join(json.dumps(event) + "\n" for event in copies))
    rules = fault_rules(PROFILE, SEED)
    rules["rules"] = [rule for rule in rules["rules"] if rule["action"] != "delay"]
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps(rules))
    report_path = tmp_path / "report.json"
    monkeypatch.chdir(ROOT)

    code = main(
        ["local", "--events", str(events), "--faults", str(faults), "--report", str(report_path), "--quiet"]
    )

    report = json.loads(report_path.read_text())
    assert code == 0, report["problems"]
    assert report["requests"]["faultsInjected"] > 0 and report["validator"]["repushed"] > 0
    wrong = {}
    for key, event in workload.newest().items():
        if not key.startswith("item#"):
            continue
        document = report["documents"].get(event["data"]["documentId"])
        version = event["data"]["version"]
        if event["type"] == "item.deleted":
            if document and document["indexed"]:
                wrong[key] = "indexed although deleted"
        elif not document or not document["indexed"] or document["metadata"].get("rev") != version:
            wrong[key] = f"want version {version}, index holds {document and document['metadata'].get('rev')}"
    assert wrong == {}
