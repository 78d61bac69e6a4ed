"""ConfigTable: fake vs DynamoDB adapter (versions, pointers, load errors, catalogs)."""

from __future__ import annotations

from typing import Any

import pytest

from nudge.adapters.configs import DynamoConfigTable
from nudge.adapters.metering import WriteMeter
from nudge.models.configs import Catalog, CatalogEntry, ConfigHead, ConfigVersion, LoadError
from tests.fakes.memory import InMemoryConfigTable

pytestmark = pytest.mark.integration


def fake() -> InMemoryConfigTable:
    return InMemoryConfigTable()


def adapter(ddb: Any) -> DynamoConfigTable:
    return DynamoConfigTable("ConfigsTable", WriteMeter(), ddb)


def version(
    n: int, config_id: str = "c1", kind: str = "campaign", text: str = "a"
) -> ConfigVersion:
    return ConfigVersion(
        kind=kind,
        config_id=config_id,
        version=n,
        sha256=f"sha{n}",
        text=text,
        model={"n": n},
        status="active",
        source="admin-api",
        created_at=100 + n,
    )


def head(n: int, rev: int, config_id: str = "c1", status: str = "active") -> ConfigHead:
    return ConfigHead(
        kind="campaign",
        config_id=config_id,
        version=n,
        sha256=f"sha{n}",
        status=status,
        model={"n": n},
        updated_at=200 + rev,
        rev=rev,
    )


def test_a_version_number_is_taken_once(store) -> None:  # type: ignore[no-untyped-def]
    assert store.put_version(version(1))
    assert not store.put_version(version(1, text="b"))  # a concurrent upload got it first
    assert store.get_version("campaign", "c1", 1) == version(1)
    assert store.get_version("campaign", "c1", 2) is None
    assert store.put_version(version(1, "c2"))  # another config: its own numbers
    assert store.put_version(version(1, "c1", "segments"))


def test_versions_oldest_first(store) -> None:  # type: ignore[no-untyped-def]
    assert store.latest_version("campaign", "c1") is None
    for n in (3, 10, 1, 2):
        store.put_version(version(n))
    store.put_version(version(11, "c10"))  # a config whose id extends c1's
    assert [v.version for v in store.versions("campaign", "c1")] == [1, 2, 3, 10]
    assert store.latest_version("campaign", "c1") == version(10)
    assert store.versions("campaign", "nope") == []


def test_head_create_and_optimistic_rev(store) -> None:  # type: ignore[no-untyped-def]
    assert store.get_head("campaign", "c1") is None
    assert not store.put_head(head(1, 2), head(1, 1))  # expected one, none stored
    assert store.put_head(head(1, 1), None)
    assert not store.put_head(head(2, 1), None)  # created by someone else
    assert store.put_head(head(2, 2), head(1, 1))
    assert not store.put_head(head(3, 3), head(1, 1))  # stale read
    assert store.get_head("campaign", "c1") == head(2, 2)


def test_heads_of_a_kind_in_id_order(store) -> None:  # type: ignore[no-untyped-def]
    for config_id in ("zeta", "alpha", "mid"):
        store.put_head(head(1, 1, config_id, "archived" if config_id == "mid" else "active"), None)
    store.put_head(
        ConfigHead(
            kind="segments",
            config_id="s",
            version=1,
            sha256="x",
            status="active",
            model={},
            updated_at=1,
        ),
        None,
    )
    assert [h.config_id for h in store.heads("campaign")] == ["alpha", "mid", "zeta"]
    assert [h.config_id for h in store.heads("segments")] == ["s"]
    assert store.heads("geofences") == []


def test_load_errors(store) -> None:  # type: ignore[no-untyped-def]
    def error(key: str, at: int) -> LoadError:
        return LoadError(key=key, sha256="s", problems=[{"message": "bad"}], at=at)

    for key in ("segments/b.yaml", "campaigns/z.yaml", "campaigns/a.yaml"):
        store.put_error(error(key, 1))
    store.put_error(error("campaigns/z.yaml", 2))  # overwritten
    store.delete_error("segments/b.yaml")
    store.delete_error("never/there.yaml")  # deleting what is not there is fine
    assert store.errors() == [error("campaigns/a.yaml", 1), error("campaigns/z.yaml", 2)]


def test_catalogs_by_revision(store) -> None:  # type: ignore[no-untyped-def]
    entry = CatalogEntry(version=1, status="active", sha256="s", model={})
    first = Catalog(kind="campaign", revision=1, entries={"c1": entry}, updated_at=1)
    assert store.get_catalogs(["campaign", "segments"]) == {}
    assert not store.put_catalog(first, 0)  # expected a revision, none stored
    assert store.put_catalog(first, None)
    assert not store.put_catalog(first, None)
    second = first.model_copy(update={"revision": 2, "entries": {}})
    assert store.put_catalog(second, 1)
    assert not store.put_catalog(second.model_copy(update={"revision": 3}), 1)  # stale
    segments = Catalog(kind="segments", revision=1)
    assert store.put_catalog(segments, None)
    assert store.get_catalogs(["campaign", "segments", "survey"]) == {
        "campaign": second,
        "segments": segments,
    }
