"""Message templates as marketers write them (title/body per locale, platform options)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nudge.templating import TemplateError, compile_template


class MessageText(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=1000)
    image: str | None = Field(default=None, max_length=1000)
    deep_link: str | None = Field(default=None, max_length=1000)

    @field_validator("title", "body", "image", "deep_link")
    @classmethod
    def _compiles(cls, source: str | None) -> str | None:
        """Checked against the template allow-list here, so the error's field is exact and
        no unsafe template is first found at send time."""
        if source is not None:
            try:
                compile_template(source)
            except TemplateError as error:
                raise ValueError(str(error)) from error
        return source


class AndroidOptions(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    channel_id: str | None = Field(default=None, max_length=100)
    priority: Literal["normal", "high"] = "high"


class ApnsOptions(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    sound: str | None = "default"
    badge: int | None = Field(default=None, ge=0, le=99_999)
    thread_id: str | None = Field(default=None, max_length=100)
    interruption_level: Literal["passive", "active", "time-sensitive", "critical"] = "active"


TEMPLATE_ID_PATTERN = r"^[a-z0-9][a-z0-9_.\-]{0,63}$"
# a request naming a saved template: checked up front (an empty id is no DynamoDB key)
TemplateId = Annotated[str, Field(pattern=TEMPLATE_ID_PATTERN)]


class MessageTemplate(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    id: str = Field(pattern=TEMPLATE_ID_PATTERN)
    category: Literal["transactional", "marketing", "product_updates", "internal"]
    default_locale: str = "en"
    text: dict[str, MessageText] = Field(min_length=1, description="locale -> text")
    android: AndroidOptions = Field(default_factory=AndroidOptions)
    apns: ApnsOptions = Field(default_factory=ApnsOptions)
    collapse_key: str | None = Field(default=None, max_length=100)
    respect_quiet_hours: bool | None = Field(
        default=None, description="Default: yes, except for transactional messages"
    )

    @property
    def quiet_hours_apply(self) -> bool:
        if self.respect_quiet_hours is not None:
            return self.respect_quiet_hours
        return self.category != "transactional"

    @model_validator(mode="after")
    def _has_default_locale(self) -> MessageTemplate:
        if self.default_locale not in self.text:
            raise ValueError(f"text: no entry for default_locale {self.default_locale!r}")
        return self


class RenderedMessage(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True)

    template_id: str
    locale: str
    title: str
    body: str
    image: str | None = None
    deep_link: str | None = None
