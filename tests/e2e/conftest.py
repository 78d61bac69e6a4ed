"""One embedded local stack per test worker, started exactly as `make up` does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nudge_local import process
from nudge_local.client import LocalClient

# Amplify's Kinesis path (tests/e2e/test_kinesis_path.py): the stack reads this stream
KINESIS_STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/nudge-e2e-app-events"


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    state_dir = tmp_path_factory.mktemp("nudge-local")
    process.up(state_dir, parameters={"EventsKinesisStreamArn": KINESIS_STREAM_ARN})
    try:
        yield state_dir
    finally:
        process.down(state_dir)


@pytest.fixture(scope="session")
def client(stack_dir: Path) -> LocalClient:
    return LocalClient.from_state_dir(stack_dir)
