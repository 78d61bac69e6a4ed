"""The contract suite: the same tests against each in-memory fake and its DynamoDB adapter.

`store` is parametrized: `fake` builds the module's fake (`fake()`), `dynamo` its adapter
(`adapter(ddb)`) over tables created from template.yaml in moto, with the helpers of
tests/integration/conftest.py. The tables are created once per module (the `aws` fixture
builds the whole stack, seconds per test) and emptied after every test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from nudge_local.resources import Resolver, create_resources, template_parameters
from nudge_local.template import read_stack
from tests.integration.conftest import deploy_parameters


class Tables:
    def __init__(self, ddb: Any, names: list[str]) -> None:
        self.ddb = ddb
        self.names = names

    def empty(self) -> None:
        for name in self.names:
            schema = self.ddb.describe_table(TableName=name)["Table"]["KeySchema"]
            keys = [k["AttributeName"] for k in schema]
            paginator = self.ddb.get_paginator("scan")
            for page in paginator.paginate(
                TableName=name,
                ProjectionExpression=", ".join(f"#k{i}" for i in range(len(keys))),
                ExpressionAttributeNames={f"#k{i}": k for i, k in enumerate(keys)},
            ):
                for item in page.get("Items", []):
                    self.ddb.delete_item(TableName=name, Key={k: item[k] for k in keys})


@pytest.fixture(scope="module")
def _module_tables() -> Iterator[Tables]:
    with mock_aws():
        spec = read_stack()
        resolver = Resolver(template_parameters(spec, deploy_parameters()))
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        create_resources(
            spec,
            resolver,
            ddb,
            boto3.client("sqs", region_name="us-east-1"),
            boto3.client("s3", region_name="us-east-1"),
        )
        yield Tables(ddb, list(spec.resources("AWS::DynamoDB::Table")))


@pytest.fixture
def tables(_module_tables: Tables) -> Iterator[Tables]:
    yield _module_tables
    _module_tables.empty()


@pytest.fixture(params=["fake", "dynamo"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(request: pytest.FixtureRequest, backend: str) -> Any:
    """The module's fake, or its adapter over moto (tables emptied after the test)."""
    if backend == "fake":
        return request.module.fake()
    tables: Tables = request.getfixturevalue("tables")
    return request.module.adapter(tables.ddb)
