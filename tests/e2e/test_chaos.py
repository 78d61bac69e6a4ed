"""`make chaos`, short: 50 users for one virtual day with faults on purpose, all accounted.

20 % of the event pipeline's DynamoDB calls are throttled (event_processor and push_sender:
throttling every function, the API's included, costs minutes of botocore's back-off), 5 %
of all SQS sends fail and 20 % of FCM sends answer 429/503: every accepted event must be
applied or dead-lettered, every queued push delivered, suppressed or dead-lettered, and no
device may get a message twice. (The comparison with a run without faults, and throttling
everywhere, are `make chaos`'s: too slow for here.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nudge_local import chaos

pytestmark = pytest.mark.e2e


def test_a_short_chaos_run_accounts_for_every_event_and_push(tmp_path: Path) -> None:
    # one day, a few transactional sends, a broadcast to ten: few pushes, few events
    workload = chaos.Workload(
        users=50, days=1, transactional_share=0.1, broadcast_users=10, lifecycle_days=0
    )
    pipeline = ["EventProcessorFunction", "PushSenderFunction"]
    plan = chaos.fault_plan(workload.seed, 0.2, fcm_rate=0.2, sqs_rate=0.05, ddb_functions=pipeline)
    outcome = chaos.run(workload, plan, tmp_path / "chaos", "short chaos")

    line = outcome.line()
    assert re.fullmatch(
        r"chaos: events accepted \d+ = applied \d+ \+ dead-lettered \d+; pushes queued \d+ = "
        r"delivered \d+ \+ suppressed \d+ \+ dead-lettered \d+; duplicates 0; unaccounted 0",
        line,
    ), (line, outcome.events_lost[:5], outcome.push_problems[:5], outcome.duplicates[:5])
    assert outcome.accepted == outcome.applied + outcome.events_dead
    assert outcome.queued == outcome.delivered + outcome.suppressed + outcome.pushes_dead
    assert outcome.accepted > 100 and outcome.queued >= 20  # the workload really ran
    injected = {r["service"]: r["injected"] for r in outcome.details["faults"]["rules"]}
    assert injected["dynamodb"] > 0  # faults really were injected, and answered
    assert sum(outcome.details["fcm_injected"].values()) > 0
