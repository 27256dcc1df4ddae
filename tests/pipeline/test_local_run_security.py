"""`coveo-push local` as a security check: an indexed item that anonymous users can read although no
event said `"allowAnonymous": true` fails the run, whatever put it there; and an events file whose
elements a lenient reader would quietly change reaches the connector as written."""

from __future__ import annotations

from pathlib import Path

from aws_simulator.stack import LocalStack
from coveo_push_api.models import ItemBody, PermissionSet
from coveo_push_cli.local_run import load_events, run_on_stack, worked_example


def test_an_item_public_without_its_event_saying_so_fails_the_run(stack: LocalStack) -> None:
    # Something other than the connector pushes a public item into the secured source.
    public = ItemBody(data="leaked", permissions=[PermissionSet(allow_anonymous=True)])
    stack.runtime.coveo.push_item(stack.coveo.source_id, "file://elsewhere/leaked.txt", public)

    report = run_on_stack(stack, worked_example(), timeout_s=30)

    assert report["security"]["publicByAccident"] == ["file://elsewhere/leaked.txt"]
    assert report["ok"] is False
    assert any(p.startswith("SECURITY: 1 item(s) readable by anonymous users") for p in report["problems"])
    # The connector's own item, secured by its event, is not flagged.
    assert report["access"]["file://folder/mytext.txt"] == {"alice": True, "bob": False, "david": True}


def test_a_public_item_its_event_declared_is_not_flagged(stack: LocalStack) -> None:
    declared = {
        "specversion": "1.0",
        "id": "public-1",
        "source": "test",
        "type": "item.upserted",
        "data": {
            "documentId": "file://open/faq.txt",
            "version": 1,
            "document": {"data": "for everyone", "permissions": [{"allowAnonymous": True}]},
        },
    }
    report = run_on_stack(stack, [*worked_example(), declared], timeout_s=30)
    assert report["security"]["publicByAccident"] == []
    assert report["ok"] is True, report["problems"]


def test_an_events_file_is_sent_as_written_where_a_lenient_reader_would_change_it(tmp_path: Path) -> None:
    duplicate = '{"id": "dup", "type": "item.upserted", "data": {"p": [1], "p": [{"allowAnonymous": true}]}}'
    deep = '{"id": "deep", "data": ' + "[" * 2000 + "]" * 2000 + "}"
    path = tmp_path / "events.json"
    path.write_text(f'[{{"id": "ok", "type": "item.deleted"}}, {duplicate}, {deep}, "raw"]')
    events = load_events(path)
    # The valid element is parsed; the others are kept as their text, for the connector to refuse.
    assert events == [{"id": "ok", "type": "item.deleted"}, duplicate, deep, "raw"]
    lines = tmp_path / "events.jsonl"
    lines.write_text(f'{{"id": "ok"}}\n{duplicate}\n')
    assert load_events(lines) == [{"id": "ok"}, duplicate]
