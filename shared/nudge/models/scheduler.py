"""The scheduler's fan-out message: one part of a due-index bucket ('<hour>#<shard>').

A bucket with more users than one consumer clears in an invocation is cut into parts by a
stable hash of the user id, one message each, so one hour's users can be worked through by
as many consumers as the event source allows, whatever `due_shards` is.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_PARTS = 64


class DueShard(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hour: int = Field(ge=0, description="epoch hour (epoch seconds // 3600)")
    shard: int = Field(ge=0, le=63)
    part: int = Field(default=0, ge=0)
    parts: int = Field(default=1, ge=1, le=MAX_PARTS)

    @model_validator(mode="after")
    def _part_in_range(self) -> DueShard:
        if self.part >= self.parts:
            raise ValueError(f"part {self.part} is not below parts {self.parts}")
        return self

    @property
    def bucket(self) -> str:
        return f"{self.hour}#{self.shard}"

    @property
    def key(self) -> str:
        """The bucket, or '<bucket>#<part>of<parts>': what a done mark is kept under."""
        return self.bucket if self.parts == 1 else f"{self.bucket}#{self.part}of{self.parts}"

    def holds(self, user_id: str) -> bool:
        return self.parts == 1 or part_of(user_id, self.parts) == self.part


def part_of(user_id: str, parts: int) -> int:
    # a hash of its own: the shard hash (dynamo_codec.due_bucket) is the same for a whole bucket
    digest = hashlib.blake2b(user_id.encode(), digest_size=4, person=b"due-part").digest()
    return int.from_bytes(digest) % parts
