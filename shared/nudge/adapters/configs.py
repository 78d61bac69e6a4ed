"""Configs in DynamoDB (ConfigsTable): campaigns, segments and fence sets, and the rules on top.

Items (pk / sk):
  `<kind>#<id>` / `v#0000000007`   one version: the uploaded text and its parsed model
  `head#<kind>` / `<id>`           the current pointer: version, status (one Query lists all)
  `errors`      / `<object key>`   why the last upload of that key could not be loaded
  `catalog`     / `<kind>`         the current non-archived configs of a kind, in one item

`ConfigStore` works over any `ConfigTable` (this one, or the in-memory fake): version numbers
come from conditional creates (two uploads at once both get a number, neither is lost), the
pointer moves with optimistic concurrency, and the catalog item is rewritten after every
change, conditional on its own revision. The event pipeline reads the catalogs through
`ConfigStore.current()` (the CampaignCatalog port): one BatchGetItem per `cache_ttl_s`.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nudge.adapters.dynamo_table import DynamoTable
from nudge.models.configs import (
    Catalog,
    CatalogKind,
    ConfigHead,
    ConfigKind,
    ConfigVersion,
    LoadError,
)

if TYPE_CHECKING:
    pass


ERROR_TTL_S = 90 * 86_400


def _pack(record: Any) -> bytes:
    return gzip.compress(record.model_dump_json().encode(), compresslevel=6)


class DynamoConfigTable(DynamoTable):
    """The `ConfigTable` port over ConfigsTable."""

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self.ddb.get_item(
            TableName=self.table, Key=self.key(pk=pk, sk=sk), ConsistentRead=True
        )
        item = response.get("Item")
        return item if isinstance(item, dict) else None

    def _query(
        self, pk: str, prefix: str | None = None, newest_first: bool = False, limit: int = 0
    ) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": self.values(pk=pk, prefix=prefix or None),
            "ConsistentRead": True,
            "ScanIndexForward": not newest_first,
        }
        if prefix:
            kwargs["KeyConditionExpression"] += " AND begins_with(sk, :prefix)"
        if limit:  # the first page only: the `limit` first items
            return list(self.ddb.query(TableName=self.table, Limit=limit, **kwargs)["Items"])
        return list(self.items("query", **kwargs))

    # ---- versions ----
    @staticmethod
    def _version_key(kind: str, config_id: str, version: int) -> dict[str, Any]:
        return DynamoTable.key(pk=f"{kind}#{config_id}", sk=f"v#{version:010d}")

    def put_version(self, version: ConfigVersion) -> bool:
        item = self._version_key(version.kind, version.config_id, version.version)
        item |= self.to_item(
            {
                "version": version.version,
                "sha256": version.sha256,
                "created_at": version.created_at,
                "body": _pack(version),
            }
        )
        return self.put_if(item, ConditionExpression="attribute_not_exists(sk)")

    def get_version(self, kind: ConfigKind, config_id: str, version: int) -> ConfigVersion | None:
        item = self._get(f"{kind}#{config_id}", f"v#{version:010d}")
        return _version(item) if item else None

    def latest_version(self, kind: ConfigKind, config_id: str) -> ConfigVersion | None:
        items = self._query(f"{kind}#{config_id}", "v#", newest_first=True, limit=1)
        return _version(items[0]) if items else None

    def versions(self, kind: ConfigKind, config_id: str) -> list[ConfigVersion]:
        return [_version(item) for item in self._query(f"{kind}#{config_id}", "v#")]

    # ---- current pointers ----
    def get_head(self, kind: ConfigKind, config_id: str) -> ConfigHead | None:
        item = self._get(f"head#{kind}", config_id)
        return _head(item) if item else None

    def heads(self, kind: ConfigKind) -> list[ConfigHead]:
        return [_head(item) for item in self._query(f"head#{kind}")]

    def put_head(self, head: ConfigHead, expected: ConfigHead | None) -> bool:
        item = self.to_item(
            {
                "pk": f"head#{head.kind}",
                "sk": head.config_id,
                "version": head.version,
                "status": head.status,
                "rev": head.rev,
                "body": _pack(head),
            }
        )
        return self._put_revision(item, expected.rev if expected else None)

    def _put_revision(self, item: dict[str, Any], expected_rev: int | None) -> bool:
        """Create only if absent, else only if its `rev` is still the one read."""
        if expected_rev is None:
            return self.put_if(item, ConditionExpression="attribute_not_exists(sk)")
        return self.put_if(
            item,
            ConditionExpression="rev = :rev",
            ExpressionAttributeValues=self.values(rev=expected_rev),
        )

    # ---- load errors ----
    def put_error(self, error: LoadError) -> None:
        item = self.to_item(
            {
                "pk": "errors",
                "sk": error.key,
                "body": error.model_dump_json(),
                "expires_at": error.at + ERROR_TTL_S,
            }
        )
        self.put_if(item)

    def delete_error(self, key: str) -> None:
        self.ddb.delete_item(TableName=self.table, Key=self.key(pk="errors", sk=key))

    def errors(self) -> list[LoadError]:
        return [LoadError.model_validate_json(i["body"]["S"]) for i in self._query("errors")]

    # ---- catalogs ----
    def get_catalogs(self, kinds: Sequence[CatalogKind]) -> dict[str, Catalog]:
        keys = [self.key(pk="catalog", sk=kind) for kind in kinds]
        found: dict[str, Catalog] = {}
        for item in self.batch_get(keys, consistent=True):
            catalog = Catalog.model_validate_json(gzip.decompress(_bytes(item["body"]["B"])))
            found[catalog.kind] = catalog
        return found

    def put_catalog(self, catalog: Catalog, expected_revision: int | None) -> bool:
        body = _pack(catalog)
        if len(body) > 380_000:
            raise ValueError(f"the {catalog.kind} catalog is {len(body)} bytes compressed")
        item = self.to_item(
            {"pk": "catalog", "sk": catalog.kind, "rev": catalog.revision, "body": body}
        )
        return self._put_revision(item, expected_revision)


def _bytes(value: Any) -> bytes:
    return bytes(value.value) if hasattr(value, "value") else bytes(value)


def _version(item: dict[str, Any]) -> ConfigVersion:
    return ConfigVersion.model_validate_json(gzip.decompress(_bytes(item["body"]["B"])))


def _head(item: dict[str, Any]) -> ConfigHead:
    return ConfigHead.model_validate_json(gzip.decompress(_bytes(item["body"]["B"])))


# ---------------------------------------------------------------------------------------------


class S3ConfigObjects:
    """Reads uploaded config files from the configs bucket (config_loader)."""

    MISSING = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NotFound"})

    def __init__(self, s3: Any = None) -> None:
        self._s3 = s3

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            from nudge.adapters.aws import client

            self._s3 = client("s3")
        return self._s3

    def current_version(self, bucket: str, key: str) -> str | None:
        """The version id of the object now under `key` ("null" unversioned); None if gone."""
        try:
            response = self.s3.head_object(Bucket=bucket, Key=key)
        except Exception as error:
            if _s3_code(error) in self.MISSING:
                return None
            raise
        return str(response.get("VersionId") or "null")

    def read(self, bucket: str, key: str, version_id: str | None, max_bytes: int) -> bytes | None:
        """The object's bytes (that version, when given); None if it no longer exists.

        Raises ObjectTooLarge past `max_bytes`: by its ContentLength before the body is read,
        and never reading more than `max_bytes` + 1 of it in any case.
        """
        from nudge.services.configs.loader import ObjectTooLarge

        kwargs = {"Bucket": bucket, "Key": key}
        if version_id and version_id != "null":
            kwargs["VersionId"] = version_id
        try:
            response = self.s3.get_object(**kwargs)
        except Exception as error:
            if _s3_code(error) in self.MISSING:
                return None
            raise
        body = response["Body"]
        try:
            size = response.get("ContentLength")
            if isinstance(size, int) and size > max_bytes:
                raise ObjectTooLarge(size)
            data = bytes(body.read(max_bytes + 1))
        finally:
            body.close()
        if len(data) > max_bytes:
            raise ObjectTooLarge(len(data))
        return data


def _s3_code(error: Exception) -> str | None:
    code = getattr(error, "response", {}).get("Error", {}).get("Code")
    return str(code) if code is not None else None
