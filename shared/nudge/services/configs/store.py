"""ConfigStore: versioned configs over the ConfigTable port (DynamoDB's adapter or the fake):
version numbers from conditional creates (two uploads at once both get one, neither is lost),
the current pointer moved with optimistic concurrency, and a catalog item per kind rewritten
after every change, conditional on its own revision. The event pipeline reads the catalogs
through `current()` (the CampaignCatalog port): one BatchGetItem per `cache_ttl_s`."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nudge.models.configs import (
    KINDS,
    Catalog,
    CatalogEntry,
    CatalogKind,
    ConfigHead,
    ConfigKind,
    ConfigStatus,
    ConfigVersion,
    LoadError,
    Promotion,
)

if TYPE_CHECKING:
    from nudge.clock import Clock
    from nudge.models.campaign import CampaignSet
    from nudge.models.response_model import ResponseModel
    from nudge.models.segment import Segment
    from nudge.services.ports import ConfigTable


log = logging.getLogger("nudge.configs")
MAX_ATTEMPTS = 10
RESPONSE_MODEL: CatalogKind = "response_model"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PublishResult:
    head: ConfigHead  # the current pointer after the publish
    version: int  # the version holding this content (new, or the one it duplicated)
    created: bool  # False: identical to the current content, nothing stored


class ConfigStore:
    """Versioned configs with a current pointer per config and a cached catalog per kind."""

    def __init__(self, table: ConfigTable, clock: Clock, cache_ttl_s: float = 30.0) -> None:
        self.table = table
        self.clock = clock
        self.cache_ttl_s = cache_ttl_s
        self._cache: dict[str, tuple[float, Catalog]] = {}
        self._published: tuple[tuple[int, ...], CampaignSet] | None = None

    def _now(self) -> int:
        return int(self.clock.now().timestamp())

    # ---- writes ----
    def publish(
        self,
        kind: ConfigKind,
        config_id: str,
        text: str,
        model: dict[str, Any],
        status: ConfigStatus,
        source: str,
        s3_version_id: str | None = None,
        digest: str | None = None,
    ) -> PublishResult:
        """Store `text` as the next version and make it current (identical content: no-op).

        Concurrent publishes each get their own version number; the highest is current.
        `digest` identifies the content when `text` is not all of it (a fence set keeps its
        fences in S3 and passes their content hash); by default the sha256 of `text`.
        """
        digest = digest or sha256(text)
        written: ConfigVersion | None = None
        created = False
        for _attempt in range(MAX_ATTEMPTS):
            head = self.table.get_head(kind, config_id)
            if written is None:
                if head is not None and head.sha256 == digest:
                    if head.deleted:  # the same file uploaded again after a deletion
                        head = self._move_head(head, status=status, deleted=False)
                    else:
                        self._ensure_in_catalog(head)
                    return PublishResult(head, head.version, False)
                latest = self.table.latest_version(kind, config_id)
                if latest is not None and latest.sha256 == digest:
                    written = latest  # an identical upload raced us, or the pointer lags
                else:
                    candidate = ConfigVersion(
                        kind=kind,
                        config_id=config_id,
                        version=(latest.version + 1) if latest else 1,
                        sha256=digest,
                        text=text,
                        model=model,
                        status=status,
                        source=source,
                        created_at=self._now(),
                        s3_version_id=s3_version_id,
                    )
                    if not self.table.put_version(candidate):
                        continue  # that number was taken meanwhile: take the next one
                    written, created = candidate, True
            if head is not None and head.version >= written.version:
                return PublishResult(head, written.version, created)  # a newer one is live
            # a promotion's record stays; a new version is a new experiment, so it ends there
            new_head = ConfigHead(
                kind=kind,
                config_id=config_id,
                version=written.version,
                sha256=written.sha256,
                status=written.status,
                model=written.model,
                updated_at=self._now(),
                deleted=False,
                promotion=_ended(head, self._now(), f"version {written.version} published"),
                rev=(head.rev + 1) if head else 1,
            )
            if self.table.put_head(new_head, head):
                self.refresh_catalog(kind)
                return PublishResult(new_head, written.version, created)
        raise RuntimeError(f"{kind} {config_id!r}: too many concurrent changes, try again")

    def set_status(
        self,
        kind: ConfigKind,
        config_id: str,
        status: ConfigStatus,
        deleted: bool = False,
        reason: str | None = None,
    ) -> ConfigHead | None:
        """Pause, resume or archive (None: no such config). In-flight sends are unaffected.
        `reason` is kept with the status (a person's change clears it)."""
        head = self.table.get_head(kind, config_id)
        if head is None:
            return None
        return self._move_head(head, status=status, deleted=deleted, status_reason=reason)

    def _move_head(self, head: ConfigHead, **changes: Any) -> ConfigHead:
        for _attempt in range(MAX_ATTEMPTS):
            if all(getattr(head, name) == value for name, value in changes.items()):
                self._ensure_in_catalog(head)
                return head
            moved = head.model_copy(
                update={**changes, "rev": head.rev + 1, "updated_at": self._now()}
            )
            if self.table.put_head(moved, head):
                self.refresh_catalog(head.kind)
                return moved
            reread = self.table.get_head(head.kind, head.config_id)
            assert reread is not None  # pointers are never deleted
            head = reread
        raise RuntimeError(f"{head.kind} {head.config_id!r}: too many concurrent changes")

    def promote(self, kind: ConfigKind, config_id: str, promotion: Promotion) -> ConfigHead | None:
        """Record `promotion` on the pointer, only while its version is current and no other
        promotion is in effect (a second run, or a race with a publish, changes nothing)."""

        def record(head: ConfigHead) -> Promotion | None:
            free = head.promotion is None or not head.promotion.in_effect
            return promotion if free and head.version == promotion.version else None

        return self._change_promotion(kind, config_id, record)

    def end_promotion(self, kind: ConfigKind, config_id: str, by: str) -> ConfigHead | None:
        """End the promotion in effect (none in effect: the pointer as it is)."""
        return self._change_promotion(kind, config_id, lambda head: _ended(head, self._now(), by))

    def _change_promotion(
        self,
        kind: ConfigKind,
        config_id: str,
        change: Callable[[ConfigHead], Promotion | None],
    ) -> ConfigHead | None:
        for _attempt in range(MAX_ATTEMPTS):
            head = self.table.get_head(kind, config_id)
            if head is None:
                return None
            promotion = change(head)
            if promotion is None or promotion == head.promotion:
                self._ensure_in_catalog(head)  # a retried change whose rewrite was lost
                return head
            # updated_at stays: it marks status changes and publishes (auto-pause's window)
            moved = head.model_copy(update={"promotion": promotion, "rev": head.rev + 1})
            if self.table.put_head(moved, head):
                self.refresh_catalog(kind)
                return moved
        raise RuntimeError(f"{kind} {config_id!r}: too many concurrent changes")

    def restore(self, kind: ConfigKind, config_id: str, version: int) -> PublishResult | None:
        """A new version with the content of `version` (None: no such version)."""
        old = self.table.get_version(kind, config_id, version)
        if old is None:
            return None
        head = self.table.get_head(kind, config_id)
        status = head.status if head else old.status
        return self.publish(
            kind,
            config_id,
            old.text,
            old.model,
            status,
            f"restore of v{version}",
            digest=old.sha256,
        )

    # ---- reads ----
    def head(self, kind: ConfigKind, config_id: str) -> ConfigHead | None:
        """The current pointer of one config (version, status)."""
        return self.table.get_head(kind, config_id)

    def versions(self, kind: ConfigKind, config_id: str) -> list[ConfigVersion]:
        return self.table.versions(kind, config_id)

    def get_version(self, kind: ConfigKind, config_id: str, version: int) -> ConfigVersion | None:
        return self.table.get_version(kind, config_id, version)

    def list_current(self, kind: ConfigKind) -> list[ConfigHead]:
        return sorted(self.table.heads(kind), key=lambda h: h.config_id)

    # ---- load errors ----
    def record_error(self, error: LoadError) -> None:
        self.table.put_error(error)

    def clear_error(self, key: str) -> None:
        self.table.delete_error(key)

    def errors(self) -> dict[str, LoadError]:
        return {error.key: error for error in self.table.errors()}

    # ---- catalogs ----
    def refresh_catalog(self, kind: ConfigKind) -> Catalog:
        """Rewrite the kind's catalog from the pointers (conditional on its revision)."""
        for attempt in range(MAX_ATTEMPTS):
            stored = self.table.get_catalogs([kind]).get(kind)
            entries = {
                head.config_id: CatalogEntry(
                    version=head.version,
                    status=head.status,
                    sha256=head.sha256,
                    model=head.model,
                    promotion=head.promotion,
                )
                for head in self.table.heads(kind)
                if head.status != "archived"
            }
            catalog = Catalog(
                kind=kind,
                revision=(stored.revision + 1) if stored else 1,
                entries=entries,
                updated_at=self._now(),
            )
            if self.table.put_catalog(catalog, stored.revision if stored else None):
                self._cache.pop(kind, None)
                self._published = None
                return catalog
            time.sleep(0.01 * (attempt + 1))
        raise RuntimeError(f"the {kind} catalog kept changing; try again")

    def _ensure_in_catalog(self, head: ConfigHead) -> None:
        """A retried change whose catalog rewrite was lost: rewrite it now."""
        catalog = self.table.get_catalogs([head.kind]).get(head.kind)
        entry = catalog.entries.get(head.config_id) if catalog else None
        listed = head.status != "archived"
        current = entry is not None and (entry.version, entry.status, entry.promotion) == (
            head.version,
            head.status,
            head.promotion,
        )
        if (listed and not current) or (not listed and entry is not None):
            self.refresh_catalog(head.kind)

    def catalog(self, kind: CatalogKind, fresh: bool = False) -> Catalog:
        """The current non-archived configs of `kind`, cached for `cache_ttl_s` by the clock."""
        return self._catalogs([kind], fresh)[kind]

    def _catalogs(self, kinds: Sequence[CatalogKind], fresh: bool) -> dict[str, Catalog]:
        now = self.clock.now().timestamp()
        result: dict[str, Catalog] = {}
        stale: list[CatalogKind] = []
        for kind in kinds:
            cached = self._cache.get(kind)
            if not fresh and cached and now - cached[0] < self.cache_ttl_s:
                result[kind] = cached[1]
            else:
                stale.append(kind)
        if stale:
            read = self.table.get_catalogs(stale)
            for kind in stale:
                catalog = read.get(kind) or Catalog(kind=kind)
                self._cache[kind] = (now, catalog)
                result[kind] = catalog
        return result

    def named_segments(self, fresh: bool = False) -> dict[str, Segment]:
        """Every named segment of the current segments files (merged)."""
        from nudge.models.segment import Segment

        segments: dict[str, Segment] = {}
        for entry in self.catalog("segments", fresh).entries.values():
            for name, raw in entry.model.get("segments", {}).items():
                segments[name] = Segment.model_validate(raw)
        return segments

    def current(self) -> CampaignSet:
        """The `CampaignCatalog` port: every non-archived campaign (with its status now) and
        every named segment, from one BatchGetItem per cache period (`cache_ttl_s`)."""
        from nudge.models.campaign import Campaign, CampaignSet
        from nudge.models.segment import Segment

        # the regional response model rides in the same BatchGetItem (no read of its own)
        catalogs = self._catalogs((*KINDS, RESPONSE_MODEL), fresh=False)
        campaigns_catalog, segments_catalog = catalogs["campaign"], catalogs["segments"]
        revisions = (
            campaigns_catalog.revision,
            segments_catalog.revision,
            catalogs[RESPONSE_MODEL].revision,
        )
        if self._published is not None and self._published[0] == revisions:
            return self._published[1]
        campaigns: dict[str, Campaign] = {}
        for config_id, entry in sorted(campaigns_catalog.entries.items()):
            try:
                campaign = Campaign.model_validate(entry.model)
            except ValueError:  # stored before a model change: skip it, loudly
                log.exception("campaign %s v%s no longer parses", config_id, entry.version)
                continue
            campaigns[config_id] = campaign.model_copy(
                update={"status": entry.status}
            ).with_promotion(entry.promotion)
        segments: dict[str, Segment] = {}
        for entry in segments_catalog.entries.values():
            for name, raw in entry.model.get("segments", {}).items():
                segments[name] = Segment.model_validate(raw)
        published = CampaignSet(
            campaigns=campaigns,
            segments=segments,
            version=f"c{revisions[0]}.s{revisions[1]}",
            response_model=_response_model(catalogs[RESPONSE_MODEL]),
        )
        self._published = (revisions, published)
        return published

    # ---- the regional response model (services/engagement/regional_model.py) ----
    def response_model(self, fresh: bool = False) -> ResponseModel | None:
        return _response_model(self.catalog(RESPONSE_MODEL, fresh))

    def publish_response_model(self, model: ResponseModel) -> bool:
        """Replace the published model (conditional on the item's revision: of two
        recomputes at once one is kept, the other told so)."""
        stored = self.table.get_catalogs([RESPONSE_MODEL]).get(RESPONSE_MODEL)
        body = model.model_dump(mode="json")
        entry = CatalogEntry(
            version=(stored.revision + 1) if stored else 1,
            status="active",
            sha256=sha256(model.model_dump_json()),
            model=body,
        )
        catalog = Catalog(
            kind=RESPONSE_MODEL,
            revision=entry.version,
            entries={RESPONSE_MODEL: entry},
            updated_at=self._now(),
        )
        written = self.table.put_catalog(catalog, stored.revision if stored else None)
        if written:
            self._cache.pop(RESPONSE_MODEL, None)
            self._published = None
        return written


def _response_model(catalog: Catalog) -> ResponseModel | None:
    from nudge.models.response_model import ResponseModel

    entry = catalog.entries.get(RESPONSE_MODEL)
    if entry is None:
        return None
    try:
        return ResponseModel.model_validate(entry.model)
    except ValueError:  # stored before a model change: targeting fails closed until the next
        log.exception("the published response model no longer parses")
        return None


def _ended(head: ConfigHead | None, at: int, by: str) -> Promotion | None:
    """The pointer's promotion marked ended (None, or one already ended: unchanged)."""
    promotion = head.promotion if head else None
    if promotion is None or not promotion.in_effect:
        return promotion
    return promotion.model_copy(update={"ended_at": at, "ended_by": by})
