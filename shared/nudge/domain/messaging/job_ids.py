"""Job ids that name their user: '<32 hex>-<user id>', under 128 characters.

The delivery log keeps a job's records in its user's partition and has no index by job id
(one would bill a write per record, as much as the push itself), so a reader given only a
job id finds the user in the id. Admin messages (from issue 23 on) and broadcasts
('<broadcast id>-<user id>') have such ids; a campaign's (`cmp-<digest>`), an admin message's
from before (32 hex) and an id of 128 characters (the broadcaster cuts longer ones) do not:
their readers must name the user.
"""

from __future__ import annotations

import re

MAX_JOB_ID = 128  # PushJob.job_id; the event processor cuts a reported message_id to it
_NAMING_ITS_USER = re.compile(r"[0-9a-f]{32}-(.+)", re.DOTALL)


def user_job_id(nonce: str, user_id: str) -> str:
    """A new job id naming its user (`nonce`: 32 hex); a user id too long for that gets
    the bare nonce, whose readers name the user."""
    job_id = f"{nonce}-{user_id}"
    return job_id if len(job_id) < MAX_JOB_ID else nonce


def user_of_job(job_id: str) -> str | None:
    """The user a job id names, or None (it names none, or may have been cut short)."""
    found = _NAMING_ITS_USER.fullmatch(job_id) if len(job_id) < MAX_JOB_ID else None
    return found.group(1) if found else None
