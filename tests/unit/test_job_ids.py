"""Job ids that name their user (nudge.domain.messaging.job_ids): the admin route finds a
message by its id alone only when the id surely names its user."""

from __future__ import annotations

import uuid

from nudge.domain.messaging.job_ids import MAX_JOB_ID, user_job_id, user_of_job


def test_a_new_id_names_its_user_whatever_the_user_id_holds() -> None:
    for user in ("ann", "auth0|5f7c-8e/9a", "a-b-c", "x" * 94):
        job_id = user_job_id(uuid.uuid4().hex, user)
        assert len(job_id) < MAX_JOB_ID and user_of_job(job_id) == user


def test_a_user_id_too_long_to_name_gets_a_bare_id() -> None:
    nonce = uuid.uuid4().hex
    assert user_job_id(nonce, "x" * 95) == nonce and user_of_job(nonce) is None


def test_ids_that_name_no_user_or_may_be_cut_short() -> None:
    assert user_of_job("cmp-0123456789abcdef01234567") is None  # a campaign's
    assert user_of_job(uuid.uuid4().hex) is None  # an admin message's from before
    assert user_of_job(f"{uuid.uuid4().hex.upper()}-ann") is None
    cut = f"{uuid.uuid4().hex}-{'y' * 200}"[:128]  # the broadcaster cuts at 128
    assert user_of_job(cut) is None
    assert user_of_job(f"{uuid.uuid4().hex}-dana") == "dana"  # a broadcast's
