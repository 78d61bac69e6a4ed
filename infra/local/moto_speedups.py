"""moto made cheaper per request for the local stack, with moto's own answers.

Several of moto's requests cost as much as its data is big: TransactWriteItems deep-copies
every table it names (to roll back on a failed condition), Query sorts every item of the
table before it looks at the key, and SQS counts every queued message to read one queue
attribute. Each profile save is a transaction, the events table keeps one item per event and
a busy hour queues hundreds of events, so a month of the demo made every request slower than
the last. These patches keep moto's code paths, checks, errors and result order:

- a transaction snapshots the items it will write (not the tables) and puts them back itself
  when moto rolls back;
- a query on the table's key looks only at that partition; a query on an index looks at the
  items grouped by their index key, grouped once per table until the next write (moto
  keeps no index and checks every item), and moto filters and sorts only the matches;
- item operations are answered with json.dumps of moto's result instead of its shape-driven
  serializer (half of a GetItem's cost), and a handler's method names are listed once;
- SQS skips the message counts where it reads another attribute (see _patch_queues).

Dev tooling only: applied in the moto server process the stack starts (moto_server.py).
"""

from __future__ import annotations

import copy
import functools
import json
import threading
import types
from collections.abc import Callable
from typing import Any

_scope = threading.local()  # the query in progress on this thread: (table, its candidates)
_writes = [0]  # DynamoDB requests that may have changed an item (index groups are rebuilt)
READ_ONLY = frozenset(
    {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "DescribeTable",
     "ListTables", "DescribeTimeToLive", "ListTagsOfResource"}
)  # fmt: skip
_originals: list[tuple[Any, str, Any]] = []  # (owner, attribute, moto's own value)


def install() -> None:
    """Patch moto's DynamoDB and SQS in this process (idempotent)."""
    from moto.core import responses
    from moto.dynamodb import models
    from moto.dynamodb.responses import DynamoHandler

    if _originals:
        return
    _patch_query(models.Table)
    _patch_transactions(models)
    _patch_answers(DynamoHandler)
    _count_writes(DynamoHandler)
    _patch_queues()
    # it lists a handler's methods with inspect.getmembers on every request
    _replace(
        responses, "method_names_from_class", functools.cache(responses.method_names_from_class)
    )


def uninstall() -> None:
    """moto as it was (for tests that compare both)."""
    while _originals:
        owner, name, value = _originals.pop()
        setattr(owner, name, value)


def _replace(owner: Any, name: str, value: Any) -> None:
    _originals.append((owner, name, getattr(owner, name)))
    setattr(owner, name, value)


def _patch_query(table_class: Any) -> None:
    sorted_all_items = table_class.all_items
    query = table_class.query

    def all_items(self: Any) -> list[Any]:
        scope = getattr(_scope, "query", None)
        if scope is not None and scope[0] is self:
            return scope[1]()
        return sorted_all_items(self)

    def scoped_query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        candidates: Callable[[], list[Any]]
        if index_name:
            conditions = kwargs.get("hash_key_conditions") or []
            candidates = lambda: _index_matches(self, conditions)  # noqa: E731 - moto filters again
        else:
            candidates = lambda: _partition(self, hash_key)  # noqa: E731
        outer = getattr(_scope, "query", None)
        _scope.query = (self, candidates)
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            _scope.query = outer

    _replace(table_class, "all_items", all_items)
    _replace(table_class, "query", scoped_query)


def _partition(table: Any, hash_key: Any) -> list[Any]:
    stored = table.items.get(hash_key)  # .get: items is a defaultdict
    if stored is None:
        return []
    return list(stored.values()) if table.range_key_attr else [stored]


def _index_matches(table: Any, conditions: list[tuple[str, Any]]) -> list[Any]:
    """Items whose index key attributes hold the queried strings. The scheduler asks for many
    due buckets in a row, and moto checks every item of the table each time (19 ms a query
    over a 1,000-user table): items are grouped by their key values once, and the grouping is
    kept until the next write. Only for string keys, where moto's equality is exactly type and
    value; moto still filters and sorts what this returns."""
    if not conditions or any(value.type != "S" for _, value in conditions):
        return _every_item(table)
    names = tuple(name for name, _ in conditions)
    cache = table.__dict__.setdefault("_nudge_index_groups", {})
    generation, groups = cache.get(names, (-1, {}))
    if generation != _writes[0]:
        groups = {}
        for item in _every_item(table):
            values = tuple(_string(item.attrs.get(name)) for name in names)
            if None not in values:
                groups.setdefault(values, []).append(item)
        cache[names] = (_writes[0], groups)
    return list(groups.get(tuple(value.value for _, value in conditions), ()))


def _string(value: Any) -> str | None:
    return value.value if value is not None and value.type == "S" else None


def _every_item(table: Any) -> list[Any]:
    if not table.range_key_attr:
        return list(table.items.values())
    return [item for partition in table.items.values() for item in partition.values()]


def _patch_transactions(models: Any) -> None:
    backend_class = models.DynamoDBBackend
    transact = backend_class.transact_write_items
    Table = models.Table

    def deepcopy_except_tables(value: Any, memo: Any = None) -> Any:
        # the item snapshots below replace moto's copy of each whole table
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    # moto.dynamodb.models refers to copy.deepcopy as `copy.deepcopy`: give that module a
    # `copy` of its own whose deepcopy leaves tables alone (copy.copy and the rest unchanged)
    own_copy = types.SimpleNamespace(**{n: getattr(copy, n) for n in copy.__all__})
    own_copy.deepcopy = deepcopy_except_tables
    _replace(models, "copy", own_copy)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        snapshots = _snapshot(self, transact_items)
        try:
            transact(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(snapshots):
                _restore(table, hash_key, range_key, item)
            raise

    _replace(backend_class, "transact_write_items", transact_write_items)


def _snapshot(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(table, hash, range, a copy of the stored item or None) for each item to be written."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    snapshots = []
    for entry in transact_items:
        for op_type, op in entry.items():
            table = backend.tables.get(op.get("TableName"))
            if table is None or op_type == "ConditionCheck":
                continue
            key = op.get("Item") if op_type == "Put" else op.get("Key")
            names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
            if not isinstance(key, dict) or any(name not in key for name in names):
                continue  # a malformed request: moto refuses it before writing anything
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            stored = table.get_item(hash_key, range_key)
            snapshots.append((table, hash_key, range_key, copy.deepcopy(stored)))
    return snapshots


def _restore(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
    elif item is None:
        table.items.get(hash_key, {}).pop(range_key, None)
    else:
        table.items[hash_key][range_key] = item


def _count_writes(handler_class: Any) -> None:
    """Every DynamoDB request but a known read counts as a write, failed or not."""
    call_action = handler_class.call_action

    def counted(self: Any) -> Any:
        try:
            return call_action(self)
        finally:
            if self._get_action() not in READ_ONLY:
                _writes[0] += 1

    _replace(handler_class, "call_action", counted)


# Their answers are plain JSON built by moto itself: AttributeValues, counts, keys, capacity.
ITEM_OPERATIONS = frozenset(
    {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem",
     "BatchWriteItem", "TransactGetItems", "TransactWriteItems"}
)  # fmt: skip


def _patch_answers(handler_class: Any) -> None:
    """Item operations answered with json.dumps of moto's result: what moto's shape-driven
    serializer writes for them too (binary values included: moto keeps them base64), at a
    fraction of the cost (it looks every member up through five alias providers). Errors and
    other operations go the stock way."""
    serialized = handler_class.serialized

    def answer(self: Any, action_result: Any) -> Any:
        result = action_result.result
        if isinstance(result, dict) and self._get_action() in ITEM_OPERATIONS:
            try:
                body = json.dumps(_without_nulls(result))
            except TypeError:  # not plain JSON after all: the stock way
                return serialized(self, action_result)
            return (
                200,
                {"Content-Type": "application/x-amz-json-1.0", **self.response_headers},
                body,
            )
        return serialized(self, action_result)

    _replace(handler_class, "serialized", answer)


def _without_nulls(value: Any) -> Any:
    """The serializer leaves out members that are None."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


_counts = threading.local()  # set while moto reads a queue's attributes for one of them only
APPROXIMATE_COUNTS = (
    "approximate_number_of_messages",
    "approximate_number_of_messages_delayed",
    "approximate_number_of_messages_not_visible",
)


def _patch_queues() -> None:
    """SQS: moto builds every attribute of a queue, counting all its messages three times, to
    read one attribute: on each SendMessage (ContentBasedDeduplication) and three times for
    each message it hands out (MessageRetentionPeriod). With a few hundred events queued, that
    made each request cost as much as the queue is deep. There the counts are skipped (nobody
    reads them), and GetQueueAttributes builds the attributes once instead of twice per name."""
    from moto.sqs.exceptions import InvalidAttributeName
    from moto.sqs.models import Queue, SQSBackend

    for name in APPROXIMATE_COUNTS:
        _replace(Queue, name, property(_counted(getattr(Queue, name))))

    def without_counts(method: Any) -> Any:
        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            outer = getattr(_counts, "skip", False)
            _counts.skip = True
            try:
                return method(*args, **kwargs)
            finally:
                _counts.skip = outer

        return wrapper

    for name in ("send_message", "is_message_valid_based_on_retention_period"):
        _replace(SQSBackend, name, without_counts(getattr(SQSBackend, name)))

    def get_queue_attributes(self: Any, queue_name: str, attribute_names: list[str]) -> Any:
        queue = self.get_queue(queue_name)
        if not attribute_names:
            return {}
        valid = ["All", *queue.BASE_ATTRIBUTES, *queue.FIFO_ATTRIBUTES, *queue.KMS_ATTRIBUTES]
        invalid = next((name for name in attribute_names if name not in valid), None)
        if invalid is not None:
            raise InvalidAttributeName(invalid)
        attributes = queue.attributes
        if "All" in attribute_names:
            return attributes
        return {n: attributes[n] for n in attribute_names if attributes.get(n) is not None}

    _replace(SQSBackend, "get_queue_attributes", get_queue_attributes)


def _counted(count: property) -> Callable[[Any], int]:
    def approximate(queue: Any) -> int:
        return 0 if getattr(_counts, "skip", False) else count.fget(queue)  # type: ignore[misc]

    return approximate
