"""At-least-once, unordered delivery: every event shuffled and duplicated 1-3 times, consumed by
concurrent pollers. Newer must win for every document and identity, and who may see each item must
be what the newest identities say.
"""

from __future__ import annotations

from .harness import ReliabilityStack, account, disorder, format_table, make_workload, send_all

SEED = 424242


def test_shuffled_duplicated_concurrent_delivery_ends_with_the_newest_of_everything(
    rstack: ReliabilityStack,
) -> None:
    workload = make_workload(100, 40, seed=SEED, provider=rstack.coveo.provider_id)
    copies = disorder(workload.events, SEED)
    assert len(copies) > len(workload.events)  # there really are duplicates
    assert len(workload.newest()) < len(workload.events)  # and older versions to lose to newer ones

    send_all(rstack, copies)
    drained = rstack.drain_with(workers=3)
    validator = rstack.settle(timeout_s=30)
    result = account(rstack, workload, check_access=True, strict=True)
    print("\n" + format_table({"disorder (tier)": result.table()}), validator, sep="\n")

    assert all(r.drained and r.handler_errors == 0 for results in drained.values() for r in results)
    # Several pollers really ran at once on each queue.
    assert all(sum(r.invocations > 0 for r in results) >= 2 for results in drained.values())
    assert result.lost() == []
    # Every key's newest version is the one Coveo holds (documents, groups, deletions) and access
    # follows the newest membership: `problems` lists any key where it does not.
    assert result.problems == []
    assert rstack.dead_letters() == []
    # And the validator proved each newest version landed: every key's newest event is VERIFIED.
    assert result.behind == {}
    assert result.table()["verified"] == len(workload.newest())
