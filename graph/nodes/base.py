"""Building blocks of node property models."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

NonEmptyStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
"""A name or phrase; surrounding spaces are dropped, an empty one counts as missing."""

PhraseList = Annotated[list[NonEmptyStr], Field(min_length=1)]
"""At least one phrase."""

BotRole = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
"""A bot is referenced by its role in the project ("open", "paid", "free" or custom)."""

KEY_PATTERN = r"^[A-Za-z0-9_\-]{1,32}$"
Key = Annotated[str, StringConstraints(pattern=KEY_PATTERN)]
"""A short stable key used in a dynamic port name (button id, branch key)."""

_VARIABLE_NAME = re.compile(r"^[^\W\d]\w{0,63}$")


def is_variable_name(name: str) -> bool:
    """Letters (any script), digits and ``_``, not starting with a digit."""
    return bool(_VARIABLE_NAME.match(name))


@dataclass(frozen=True)
class PropIssue:
    """A problem with property values that a field type alone cannot express."""

    field: str
    message: str
    message_ru: str


class NodeProps(BaseModel):
    """Base of every node type's properties. Unknown property names are errors.

    Defaults are validated too: a required name defaults to "" and a required list to
    ``[]``, so a fresh node has every field and validation reports the empty ones.
    """

    model_config = ConfigDict(extra="forbid", validate_default=True)

    def issues(self) -> list[PropIssue]:
        """Cross-field problems (e.g. a URL button without a URL). None by default."""
        return []

    def dynamic_outputs(self) -> list[str]:
        """Output ports derived from the properties (buttons, branches). None by default."""
        return []
