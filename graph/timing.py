"""Time values kept inside node properties: durations and times of day."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

TimeOfDay = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
"""A wall-clock time "HH:MM" (24 h) in the project time zone."""

Weekday = Annotated[int, Field(ge=0, le=6)]
"""0 = Monday … 6 = Sunday (Python's ``date.weekday()``)."""


class Duration(BaseModel):
    """A span of time given as parts, the way staff type it ("2 days 3 hours")."""

    model_config = ConfigDict(extra="forbid")

    days: int = Field(default=0, ge=0, le=3650)
    hours: int = Field(default=0, ge=0)
    minutes: int = Field(default=0, ge=0)
    seconds: int = Field(default=0, ge=0)

    def total_seconds(self) -> int:
        return ((self.days * 24 + self.hours) * 60 + self.minutes) * 60 + self.seconds
