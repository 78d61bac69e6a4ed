"""Issue 23: a push costs at most one DynamoDB write unit per push and device, all in: the
delivery log's items and every index entry they would write (an on-demand GSI bills its
writes too), on the bench's realistic mix (tests/bench/push_mix.py)."""

from __future__ import annotations

import json

import pytest

from nudge_local.template import read_stack
from tests.bench.push_mix import KINDS, measure

pytestmark = pytest.mark.integration


def test_the_delivery_log_has_no_secondary_index_and_no_grant_on_one() -> None:
    spec = read_stack()
    table = spec.resources("AWS::DynamoDB::Table")["DeliveryLogTable"]
    assert "GlobalSecondaryIndexes" not in table and "LocalSecondaryIndexes" not in table
    # an index would bill a write per item written; readers find a job in its user's partition
    assert {a["AttributeName"] for a in table["AttributeDefinitions"]} == {"user_id", "sk"}
    everything = json.dumps(spec.template["Resources"])
    assert "DeliveryLogTable.Arn}/index/" not in everything and "job-index" not in everything


def test_a_push_costs_at_most_one_write_unit_per_device_all_in() -> None:
    table, index, pushes = measure(200, KINDS, 0.35, 0.03, seed=11)
    assert pushes > 200
    assert index == 0.0
    assert table + index <= 1.0, (table, index)


def test_a_push_to_a_device_fcm_refuses_costs_no_index_writes() -> None:
    # every failure writes the record again: that second write costs no index entry either
    table, index, _ = measure(30, (("campaign", 1.0),), 0.0, 1.0, seed=5)
    assert index == 0.0 and table > 1.0
