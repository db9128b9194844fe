"""Wire shapes of scheduled and generated reports."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, StringConstraints, field_validator, model_validator

from pricewise.catalog.schemas import Id, Short, UiIn
from pricewise.core.schemas import Name, Text, _no_controls
from pricewise.reports.templates import TEMPLATES

Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=320,
                                         pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class Section(UiIn):
    id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    name: Name
    prompt: Text
    section_type: Short | None = None


class ScheduleConfig(UiIn):
    time: Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] = "09:00"
    day_of_week: Annotated[int, Field(ge=0, le=6)] | None = None  # 0 = Monday
    day_of_month: Annotated[int, Field(ge=1, le=28)] | None = None
    cron: Annotated[str, StringConstraints(max_length=100)] | None = None


class ScheduledReportIn(UiIn):
    name: Name
    schedule_type: Literal["daily", "weekly", "monthly", "cron"]
    schedule_config: ScheduleConfig = Field(default_factory=ScheduleConfig)
    sections: list[Section] = Field(min_length=1, max_length=30)
    recipients: list[Email] = Field(default_factory=list, max_length=50)
    timezone: Annotated[str, StringConstraints(max_length=64)] = "UTC"
    product_id: Id | None = None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not an IANA time zone such as Europe/Paris") from None
        return v

    @model_validator(mode="after")
    def _schedule(self) -> ScheduledReportIn:
        cfg = self.schedule_config
        if self.schedule_type == "cron":
            from croniter import croniter

            if not cfg.cron or not croniter.is_valid(cfg.cron):
                raise ValueError("schedule_config.cron: a valid 5-field cron expression is required")
        if self.schedule_type == "weekly" and cfg.day_of_week is None:
            cfg.day_of_week = 0
        if self.schedule_type == "monthly" and cfg.day_of_month is None:
            cfg.day_of_month = 1
        return self


def cron_of(schedule_type: str, cfg: ScheduleConfig) -> str:
    if schedule_type == "cron":
        assert cfg.cron
        return re.sub(r"\s+", " ", cfg.cron.strip())
    hh, mm = (int(x) for x in cfg.time.split(":"))
    if schedule_type == "daily":
        return f"{mm} {hh} * * *"
    if schedule_type == "weekly":
        return f"{mm} {hh} * * {((cfg.day_of_week or 0) + 1) % 7}"  # cron: 0 = Sunday
    return f"{mm} {hh} {cfg.day_of_month or 1} * *"


Prompt = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), AfterValidator(_no_controls)]


class ReportSectionIn(UiIn):
    name: Name
    prompt: Prompt = ""
    section_type: Short | None = None  # summary, revenue, forecast, recommendations, gaps, performance


class TimeRange(UiIn):
    # JSON has no date type: "2024-01-01" (or a midnight timestamp) is parsed here.
    start: Annotated[date, Field(strict=False)] | None = None
    end: Annotated[date, Field(strict=False)] | None = None

    @model_validator(mode="after")
    def _order(self) -> TimeRange:
        if self.start and self.end and self.start > self.end:
            raise ValueError("start must not be after end")
        return self


class ReportGenerateIn(UiIn):
    name: Name | None = None  # default: the template's name
    product_id: Id | None = None
    template_id: Short | None = None
    sections: list[ReportSectionIn] | None = Field(default=None, min_length=1, max_length=20)
    time_range: TimeRange | None = None

    @field_validator("template_id")
    @classmethod
    def _template(cls, v: str | None) -> str | None:
        if v is not None and v not in TEMPLATES:
            raise ValueError(f"unknown template; one of {', '.join(TEMPLATES)}")
        return v
