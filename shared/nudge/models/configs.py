"""Stored configs (campaigns, named segments, geofence sets, NPS surveys): versions, the
current pointer, load errors, catalogs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ConfigKind = Literal["campaign", "segments", "geofences", "survey"]
ConfigStatus = Literal["draft", "active", "paused", "archived"]
# Catalog items: one per config kind, and the regional response model (recomputed on the
# scheduler tick, read with the campaign catalog; models/response_model.py)
CatalogKind = Literal["campaign", "segments", "geofences", "survey", "response_model"]
# What the campaign pipeline reads in one BatchGetItem (CampaignCatalog); fence sets are read
# by the FenceCatalog on their own schedule, surveys by the SurveyCatalog.
KINDS: tuple[ConfigKind, ...] = ("campaign", "segments")
# Where each kind lives in the configs bucket: campaigns/<id>.yaml, segments/<name>.yaml,
# geofences/<set_id>.geojson or .csv, surveys/<id>.yaml (NPS surveys,
# nudge.services.nps.survey_configs)
PREFIXES: dict[ConfigKind, str] = {
    "campaign": "campaigns/",
    "segments": "segments/",
    "geofences": "geofences/",
    "survey": "surveys/",
}
SUFFIX = ".yaml"
SUFFIXES: dict[ConfigKind, tuple[str, ...]] = {
    "campaign": (SUFFIX,),
    "segments": (SUFFIX,),
    "geofences": (".geojson", ".csv"),
    "survey": (SUFFIX,),
}


def object_key(kind: ConfigKind, config_id: str, suffix: str | None = None) -> str:
    return f"{PREFIXES[kind]}{config_id}{suffix or SUFFIXES[kind][0]}"


def object_keys(kind: ConfigKind, config_id: str) -> list[str]:
    """Every object key a config can be uploaded as (a fence set: .geojson or .csv)."""
    return [object_key(kind, config_id, suffix) for suffix in SUFFIXES[kind]]


def parse_key(key: str) -> tuple[ConfigKind, str] | None:
    """`campaigns/x.yaml` -> ("campaign", "x"); None for keys that are not configs."""
    for kind, prefix in PREFIXES.items():
        for suffix in SUFFIXES[kind]:
            if key.startswith(prefix) and key.endswith(suffix):
                config_id = key[len(prefix) : -len(suffix)]
                if config_id and "/" not in config_id:
                    return kind, config_id
    return None


class _Record(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


class ConfigVersion(_Record):
    """One stored version: the text as uploaded, and its parsed model (JSON)."""

    kind: ConfigKind
    config_id: str
    version: int = Field(ge=1)
    sha256: str
    text: str
    model: dict[str, Any]
    status: ConfigStatus  # the status this version was published with
    source: str  # the object key, "admin-api", or "restore of v3"
    created_at: int
    s3_version_id: str | None = None


class Promotion(_Record):
    """auto_promote moved a campaign's non-holdout traffic to `variant` (a campaign's pointer
    keeps the last one, in effect or ended, so the report can say what happened and when)."""

    variant: str
    at: int
    version: int  # the campaign version whose counters were judged
    since: str  # the days judged (YYYY-MM-DD, UTC), inclusive
    until: str
    # the variant comparison as the report shows it: rates and adjusted intervals per pair
    evidence: dict[str, Any]
    ended_at: int | None = None  # reverted, or a new version published
    ended_by: str | None = None

    @property
    def in_effect(self) -> bool:
        return self.ended_at is None


class ConfigHead(_Record):
    """The current pointer of one config: which version is live, and its status now."""

    kind: ConfigKind
    config_id: str
    version: int
    sha256: str
    status: ConfigStatus
    model: dict[str, Any]
    updated_at: int
    # the bucket object was deleted: the config was archived because of that
    deleted: bool = False
    # why the status is what it is, when a machine set it (e.g. an auto-pause); None otherwise
    status_reason: str | None = None
    promotion: Promotion | None = None  # campaigns with auto_promote only
    rev: int = 1  # bumped by every write of the pointer (optimistic concurrency)


class LoadError(_Record):
    """Why the last upload of an object key could not be loaded (kept until a good upload)."""

    key: str
    sha256: str
    problems: list[dict[str, Any]]  # ConfigProblem fields: source, line, field, message
    at: int
    s3_version_id: str | None = None


class CatalogEntry(_Record):
    version: int
    status: ConfigStatus
    sha256: str
    model: dict[str, Any]
    promotion: Promotion | None = None  # the pipeline reads a promotion in effect from here


class Catalog(_Record):
    """The current non-archived configs of one kind, as one item (read in one GetItem)."""

    kind: CatalogKind
    revision: int = 0  # bumped by every rewrite (the conditional write's version)
    entries: dict[str, CatalogEntry] = Field(default_factory=dict)
    updated_at: int = 0
