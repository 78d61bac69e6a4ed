"""Pinpoint treatments and messages -> Nudge variants (pure; see pinpoint_campaigns.py).

One variant per treatment, weighted by SizePercent (the main treatment gets what the others and
the holdout leave). The push text is the GCMMessage's, field by field over the DefaultMessage's
(APNSMessage when there is no GCM one: FCM carries one text to both platforms); message
variables become Nudge template expressions over the attributes the endpoint import wrote.
"""

from __future__ import annotations

import re
from typing import Any

from nudge.domain.migration.pinpoint_reading import PinpointFormatError, Reader, join
from nudge.domain.migration.pinpoint_segments import slug, unique

# Pinpoint message variables -> the profile attribute the endpoint import wrote
VARIABLE_ATTRIBUTES = {
    "Demographic.Platform": "platform",
    "Demographic.AppVersion": "app_version",
    "Demographic.Locale": "locale",
    "Demographic.Timezone": "timezone",
    "Location.Country": "country",
}
_VARIABLE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_PROPERTY_KEY = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def variants_of(
    reader: Reader, name: str, holdout: float
) -> tuple[list[dict[str, Any]], list[int]]:
    """The variants (one per treatment) and the TimeToLive each message gave."""
    doc = reader.document
    treatments: list[tuple[str, dict[str, Any], float | None]] = [("", doc, None)]
    for index, treatment in enumerate(reader.objects(doc, "AdditionalTreatments", "")):
        path = f"AdditionalTreatments[{index}]"
        size = reader.get(treatment, "SizePercent", path, "a number")
        if size is None or not 0 <= size <= 100:
            raise PinpointFormatError(reader.source, join(path, "SizePercent"), "0 to 100")
        for key in ("Id", "State"):
            reader.consumed(join(path, key))
        if reader.mapping(treatment, "Schedule", path):
            reader.report(join(path, "Schedule"), "Nudge variants share the campaign's schedule")
        treatments.append((path, treatment, size))
    sizes = [size or 0 for _, _, size in treatments[1:]]
    main_size = 100 - holdout - sum(sizes)
    if sizes and main_size < 0:
        reader.report("AdditionalTreatments", "sizes and holdout add up to more than 100%")
    variants: list[dict[str, Any]] = []
    ttls: list[int] = []
    taken: set[str] = set()
    for path, treatment, size in treatments:
        label = reader.get(treatment, "TreatmentName", path, "a string")
        variant_id = unique(slug(label or "", 32) or ("a" if not path else f"t{len(taken)}"), taken)
        taken.add(variant_id)
        weight = max(int(main_size), 0) if size is None else int(size)
        text, ttl = _message(reader, treatment, path, name)
        variants.append({"id": variant_id, "weight": weight if sizes else 1, **text})
        ttls += [ttl] if ttl is not None else []
    if sizes and all(v["weight"] == 0 for v in variants):
        variants[0]["weight"] = 1
        reader.report("AdditionalTreatments", "every treatment has 0%: the first gets all")
    return variants, ttls


def _message(
    reader: Reader, treatment: dict[str, Any], path: str, name: str
) -> tuple[dict[str, Any], int | None]:
    """A treatment's push text (GCM over default), and its TimeToLive."""
    config_path = join(path, "MessageConfiguration")
    config = reader.mapping(treatment, "MessageConfiguration", path)
    default = reader.mapping(config, "DefaultMessage", config_path)
    gcm = reader.mapping(config, "GCMMessage", config_path)
    apns = reader.mapping(config, "APNSMessage", config_path)
    main_key, main, other_key, other = (
        ("GCMMessage", gcm, "APNSMessage", apns) if gcm else ("APNSMessage", apns, "", {})
    )
    fields = ("Title", "Body", "ImageUrl", "Action", "Url", "TimeToLive")
    kinds = {"TimeToLive": "a number"}
    picked: dict[str, Any] = {}
    for key in fields:
        kind = kinds.get(key, "a string")
        mine = reader.get(main, key, join(config_path, main_key), kind) if main else None
        base = reader.get(default, key, join(config_path, "DefaultMessage"), kind)
        picked[key] = mine if mine is not None else base
        theirs = reader.get(other, key, join(config_path, other_key), kind) if other else None
        if theirs is not None and theirs != picked[key]:
            reader.report(
                join(join(config_path, other_key), key),
                "Nudge sends one text to both platforms through FCM: the GCMMessage one is used",
            )
    text: dict[str, Any] = {}
    template = _template_note(reader, treatment, path)
    title, body = picked["Title"], picked["Body"]
    plain_name = _cut(_literal(name), 200)  # a name is text, never a template
    if not title and not template:
        reader.report(join(config_path, "Title"), "no title: the campaign name is used")
    if not body and not template:
        reader.report(join(config_path, "Body"), "no text: write the variant's body")
    placeholder = f"[copy the text of Pinpoint push template {template}]"
    converted_title = _fit(reader, title, join(config_path, "Title"), 200) if title else ""
    converted_body = _fit(reader, body, join(config_path, "Body"), 1000) if body else ""
    text["title"] = converted_title or (
        _cut(_literal(placeholder), 200) if template else plain_name
    )
    text["body"] = converted_body or (
        _cut(_literal(placeholder), 1000) if template else "[no text]"
    )
    if picked["ImageUrl"]:
        text["image"] = _fit(reader, picked["ImageUrl"], join(config_path, "ImageUrl"), 1000)
    if picked["Url"] and picked["Action"] in (None, "URL", "DEEP_LINK"):
        text["deep_link"] = _fit(reader, picked["Url"], join(config_path, "Url"), 1000)
    elif picked["Url"]:
        reader.report(join(config_path, "Url"), f"Action {picked['Action']}: the Url is not used")
    ttl = picked["TimeToLive"]
    return text, int(ttl) if ttl is not None else None


def _template_note(reader: Reader, treatment: dict[str, Any], path: str) -> str | None:
    config = reader.mapping(treatment, "TemplateConfiguration", path)
    where = join(join(path, "TemplateConfiguration"), "PushTemplate")
    push = reader.mapping(config, "PushTemplate", join(path, "TemplateConfiguration"))
    if not push:
        return None
    template = reader.get(push, "Name", where, "a string") or "?"
    version = reader.get(push, "Version", where, "a string")
    reader.report(
        where,
        f"create the template: copy Pinpoint push template {template!r}"
        + (f" (version {version})" if version else "")
        + f" into this variant's title and body (aws pinpoint get-push-template "
        f"--template-name {template})",
    )
    return template


def _fit(reader: Reader, text: str, where: str, limit: int) -> str:
    """The converted text within Nudge's limit (cut before an expression, never inside one)."""
    converted = _text(reader, text, where)
    if len(converted) > limit:
        reader.report(where, f"longer than Nudge's {limit} characters: cut")
        converted = _cut(converted, limit)
    if not converted.strip():
        reader.report(where, "nothing left once converted: a placeholder is written")
    return converted if converted.strip() else ""


def _cut(text: str, limit: int) -> str:
    """At most `limit` characters, cut before an expression rather than inside one."""
    cut = text[:limit]
    return cut[: cut.rfind("{{")] if cut.rfind("{{") > cut.rfind("}}") else cut


def _text(reader: Reader, text: str, where: str) -> str:
    """Pinpoint's {{Attributes.x}} variables as Nudge's {{ user.x }}; Jinja syntax escaped."""
    out, last = [], 0
    for match in _VARIABLE.finditer(text):
        out.append(_literal(text[last : match.start()]))
        last = match.end()
        variable = match.group(1).strip()
        attribute = VARIABLE_ATTRIBUTES.get(variable)
        for prefix in ("User.UserAttributes.", "Attributes.", "Metrics."):
            if variable.startswith(prefix):
                attribute = variable[len(prefix) :]
        if attribute is None or attribute.startswith("_") or not _PROPERTY_KEY.match(attribute):
            reader.report(where, f"{{{{{variable}}}}} has no Nudge equivalent: left out")
            continue
        access = f".{attribute}" if _IDENTIFIER.match(attribute) else f"[{attribute!r}]"
        out.append(f"{{{{ user{access} | default('') }}}}")
    out.append(_literal(text[last:]))
    return "".join(out)


def _literal(text: str) -> str:
    """Plain text that Jinja would read as syntax ({%, {#, {{) kept as it is."""
    return re.sub(r"\{[%#{]", lambda m: "{{ " + repr(m.group(0)) + " }}", text)
