"""auto_promote through the real handlers (IAM enforced): the scheduler tick records the
promotion on the campaign pointer, the admin API shows it and reverts it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from nudge import runtime
from nudge.adapters.dynamodb import _named_counter_updates
from nudge.domain.engagement.counters import counter_name
from tests.integration.conftest import Aws, sample_event
from tests.integration.test_configs import admin
from tests.unit.test_auto_promote import campaign_yaml

pytestmark = pytest.mark.integration

ROUTE = "DELETE /admin/v1/campaigns/{campaign_id}/promotion"


def test_the_tick_promotes_a_clear_winner_and_the_admin_api_reverts_it(aws: Aws) -> None:
    loaded = runtime.campaign_configs().load_object(
        "campaigns/promo.yaml", campaign_yaml().encode(), None
    )
    assert loaded.result == "loaded"
    aws.clock.advance(timedelta(days=1))
    name = counter_name("promo", int(aws.clock.now().timestamp()))
    counts = {name: {"sent.a": 400, "converted.a": 40, "sent.b": 400, "converted.b": 100}}
    aws.ddb.transact_write_items(TransactItems=_named_counter_updates("ProfilesTable", "u", counts))

    result = aws.invoke("SchedulerFunction", sample_event("scheduler/tick.json"))
    assert result["auto_promoted"] == ["promo"]
    again = aws.invoke("SchedulerFunction", sample_event("scheduler/tick.json"))
    assert again["auto_promoted"] == []

    params = {"campaign_id": "promo"}
    status, shown = admin(
        aws,
        "GET",
        "/admin/v1/campaigns/promo",
        None,
        "GET /admin/v1/campaigns/{campaign_id}",
        params,
    )
    assert status == 200 and shown["promotion"]["variant"] == "b"
    assert shown["promotion"]["in_effect"] and shown["promotion"]["evidence"]["winner"] == "b"

    status, ended = admin(aws, "DELETE", "/admin/v1/campaigns/promo/promotion", None, ROUTE, params)
    assert status == 200 and ended["promotion"]["in_effect"] is False
    assert ended["promotion"]["ended_by"] == "reverted by a person"
    status, twice = admin(aws, "DELETE", "/admin/v1/campaigns/promo/promotion", None, ROUTE, params)
    assert status == 200 and twice == ended
    status, missing = admin(
        aws, "DELETE", "/admin/v1/campaigns/nope/promotion", None, ROUTE, {"campaign_id": "nope"}
    )
    assert status == 404 and "campaign_id" in missing["message"]
