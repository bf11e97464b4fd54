"""Scripted conversations for ``python main.py simulate``: the YAML format and its parser.

Staff write a scenario to try a funnel without Telegram; our tests use the same files.
This module only reads and validates a scenario into typed models; the runner that plays
it against the engine lives elsewhere. Every problem names the step, the YAML line and the
field, e.g. ``step 4 (line 17): unknown key 'sayz' — did you mean 'says'?``; all problems
of a file are reported at once.

Format
======

Header (all keys at the top level)::

    project: EMA                  # a project of the workspace (its bots, funnels, time zone)
    funnels: [open.json]          # and/or funnel files, relative to the scenario file
    bots:                         # bot role -> bot username (must end in "bot")
      open: ema_open_bot
    managers: [Менеджер]          # manager accounts by name (or name -> {user_id: …})
    contacts:                     # alias -> {user_id, first_name, last_name, username,
      anna: {user_id: 1001, first_name: Анна}   #  language}; or just the user id
      boris: 1002
    start: "2024-05-06 10:00"     # virtual start time; naive = in time_zone; default now
    time_zone: Europe/Moscow      # default: the project's zone
    steps: [...]                  # what happens, in order (below)

Text values need no quotes unless YAML would read them otherwise (``#``, ``: ``); ``yes``,
``no``, ``on``, ``off`` and numbers stay text where text is expected.

Steps (a list; each step is one mapping with exactly one action key):

- ``{contact: anna, bot: open, says: "текст"}`` — the contact writes to a bot. Instead of
  ``bot`` use ``account: <manager>`` to write to a manager's account. Without either,
  the contact stays in the channel of their previous step (a manager's message to them
  counts: it is that manager's account), or the only bot.
- ``{contact: anna, bot: open, start: "payload"}`` — ``/start`` with a payload;
  ``start: ""`` or ``start: null`` is a plain ``/start``.
- ``{contact: anna, presses: "Да"}`` — press an inline button (by text or callback data)
  of the newest message that has it, or a reply-keyboard button.
- ``{manager: Менеджер, to: anna, says: "оплату за Таро получила"}`` — a manager writes
  from their own account (the outgoing-code-phrase trigger).
- ``{wait: "2h"}`` — virtual time jumps ahead; timers due meanwhile fire at their moment.
  Durations: ``30s``, ``15m``, ``2h``, ``3d``, ``1w``, ``1d2h``, ``1d 2h 30m``.
- Staff actions, as a staff user does them in the app (the engine's own staff actions:
  history and the audit log say ``staff:<login>``); each takes ``staff: <login>``,
  ``contact: <alias>`` and an optional ``reason: "…"``. A run is named by its funnel:

  - ``{staff: olga, contact: anna, move_to: "Ждём дату", funnel: Открытый}`` — put the
    contact's latest run of that funnel on a node (title, id or id prefix) and execute from
    there; without ``funnel``, the contact's only live run.
  - ``{staff: olga, contact: anna, add_tag: VIP}`` / ``{…, remove_tag: VIP}`` — tags by
    hand (tag triggers fire as usual).
  - ``{staff: olga, contact: anna, stop_run: Открытый}`` — stop the contact's live run of
    that funnel (it keeps its node).
  - ``{staff: olga, contact: anna, restart_run: Открытый}`` — start that funnel again for
    the contact (its live run is stopped first; re-entry rules do not apply).
  - ``{staff: olga, contact: anna, roll_back: Платный}`` — undo the contact's latest run of
    that funnel (a manager's mistake): the runs it stopped resume where they stopped, the
    tags it added are removed, its personal links revoked.
- ``{expect: {...}}`` — checks; all keys optional but at least one:

  - ``contact`` (default: the contact of the previous step), ``bot``/``account`` (default:
    that contact's current channel) — whose messages are checked.
  - ``messages``: the messages this contact received in that channel *since the previous
    expect about them there*, each item matched by a different message in the listed
    order: ``{contains: …}``, ``{equals: …}``, ``{regex: …}`` (Python ``re.search``),
    ``{buttons: [texts shown]}``, ``{protected: true}``; a plain string means contains.
  - ``count``: exactly this many new messages; ``nothing_more: true``: no new messages
    besides those listed in ``messages`` (``count: 0`` means "nothing arrived").
  - ``tags``: ``{present: [...], absent: [...]}``; a plain list means present.
  - ``runs``: runs of the contact that must exist, each ``{funnel, node, status}`` (any
    subset; ``node`` is a node title or id; status: active, waiting, finished, stopped,
    failed).
  - ``purchases``: ``[{product: Таро, count: 1}]``; a plain string means at least one.
  - ``notifications``: ``[{kind: lost_receipt, count: 1}]``; a plain string means at
    least one of that kind.
  - ``variables``: ``{name: expected value}``.
  - ``history``: entries of the contact's history, each ``{kind, by, count}`` (any
    subset): ``kind`` exact or its head (``tag`` matches ``tag.added``), ``by`` who did it
    (``staff olga``, ``engine``), ``count`` exactly (default: at least one); a plain
    string is a kind.

Example
=======

.. code-block:: yaml

    # example-begin
    project: EMA
    bots: {open: ema_open_bot, paid: ema_paid_bot}
    managers: [Менеджер]
    contacts:
      anna: {user_id: 1001, first_name: Анна, username: anna_k}
      boris: 1002
    start: "2024-05-06 10:00"
    time_zone: Europe/Moscow
    steps:
      - contact: anna
        bot: open
        start: "insta"
      - expect:
          messages: ["Привет", {buttons: ["Хочу разбор"]}]
          nothing_more: true
          runs: [{funnel: Открытый, node: Ждём дату, status: waiting}]
      - contact: anna
        presses: "Хочу разбор"
      - contact: anna
        says: "12.03.1990"
      - expect:
          messages: [{regex: "разбор.*готов"}]
          variables: {birth_date: "12.03.1990"}
          tags: {present: [получила разбор], absent: [купила]}
      - wait: 1d2h
      - expect: {count: 1, messages: ["Таро"]}
      - manager: Менеджер
        to: anna
        says: "оплату за Таро получила"
      - expect:
          bot: open
          messages: [{contains: "t.me/ema_paid_bot"}]
          runs: [{funnel: Открытый, status: stopped}]
          notifications: [payment_link_sent]
      - contact: anna
        bot: open
        presses: "Перейти в бот"
      - expect:
          bot: paid
          messages: ["Добро пожаловать"]
          purchases: [Таро]
          tags: [купила]
      - wait: 3d
      - expect: {contact: anna, bot: open, count: 0}
      - staff: olga
        contact: anna
        add_tag: VIP
        reason: "постоянный клиент"
      - expect: {tags: [VIP], history: [{kind: tag.added, by: staff olga, count: 1}]}
    # example-end
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from engine.schedule import parse_duration

BOT_USERNAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,30}[Bb][Oo][Tt]")

# --- problems -------------------------------------------------------------------------


@dataclass(frozen=True)
class ScenarioProblem:
    """One thing wrong with a scenario, located for a person to fix it."""

    message: str
    line: int | None = None
    step: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        if self.step is not None:
            where = f"step {self.step}" + (f" (line {self.line})" if self.line else "")
        else:
            where = f"line {self.line}" if self.line else "scenario"
        field = f"{self.field}: " if self.field else ""
        return f"{where}: {field}{self.message}"


class ScenarioError(ValueError):
    """A scenario that cannot be used; ``problems`` lists everything wrong with it."""

    def __init__(self, problems: list[ScenarioProblem], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        prefix = f"{source}: " if source else ""
        super().__init__("\n".join(prefix + str(p) for p in problems))


def _suggest(word: str, choices: list[str] | set[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" — did you mean {close[0]!r}?" if close else ""


# --- models -------------------------------------------------------------------------


class _Strict(BaseModel):
    """Frozen model that rejects unknown keys with a "did you mean" hint."""

    # `says: 123` means the text "123".
    model_config = ConfigDict(frozen=True, coerce_numbers_to_str=True)
    _internal: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def yaml_keys(cls) -> list[str]:
        return [name for name in cls.model_fields if name not in cls._internal]

    @model_validator(mode="before")
    @classmethod
    def _known_keys_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = cls.yaml_keys()
            for key in data:
                if str(key) not in allowed:
                    hint = _suggest(str(key), allowed) or f" (allowed: {', '.join(allowed)})"
                    raise PydanticCustomError(
                        "unknown_key", "unknown key '{key}'{hint}", {"key": str(key), "hint": hint}
                    )
        return data


class ContactSpec(_Strict):
    user_id: int = Field(gt=0)
    first_name: str = ""
    last_name: str | None = None
    username: str | None = None
    language: str = "ru"

    @model_validator(mode="before")
    @classmethod
    def _bare_id(cls, data: Any) -> Any:
        return {"user_id": data} if isinstance(data, int) and not isinstance(data, bool) else data


class ManagerSpec(_Strict):
    user_id: int | None = Field(default=None, gt=0)
    username: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare(cls, data: Any) -> Any:
        return {} if data is None else data


class RunStatus(StrEnum):
    ACTIVE = "active"
    WAITING = "waiting"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"


class MessageExpect(_Strict):
    contains: str | None = None
    equals: str | None = None
    regex: str | None = None
    buttons: list[str] | None = None
    protected: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"contains": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _something(self) -> MessageExpect:
        if all(
            v is None
            for v in (self.contains, self.equals, self.regex, self.buttons, self.protected)
        ):
            raise ValueError(
                "say what the message has: contains, equals, regex, buttons or protected"
            )
        return self

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regex {value!r}: {exc}") from None
        return value


class TagsExpect(_Strict):
    present: list[str] = Field(default_factory=list)
    absent: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"present": data} if isinstance(data, list) else data

    @model_validator(mode="after")
    def _disjoint(self) -> TagsExpect:
        both = sorted(set(self.present) & set(self.absent))
        if both:
            raise ValueError(f"tags both present and absent: {', '.join(both)}")
        return self


class RunExpect(_Strict):
    funnel: str | None = None
    node: str | None = None  # node title or id
    status: RunStatus | None = None

    @model_validator(mode="after")
    def _something(self) -> RunExpect:
        if self.funnel is None and self.node is None and self.status is None:
            raise ValueError("a run expectation needs funnel, node or status")
        return self


class PurchaseExpect(_Strict):
    product: str = Field(min_length=1)
    count: int | None = Field(default=None, ge=0)  # None: at least one

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"product": data} if isinstance(data, str) else data


class NotificationExpect(_Strict):
    kind: str = Field(min_length=1)
    count: int | None = Field(default=None, ge=0)  # None: at least one

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"kind": data} if isinstance(data, str) else data


class HistoryExpect(_Strict):
    kind: str | None = None  # e.g. run.rolled_back; "tag" matches tag.added and tag.removed
    by: str | None = None  # "staff olga" / "staff:olga", "engine", "manager:<id>"
    count: int | None = Field(default=None, ge=0)  # None: at least one

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"kind": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _something(self) -> HistoryExpect:
        if self.kind is None and self.by is None:
            raise ValueError("a history expectation needs kind or by")
        return self

    @property
    def actor(self) -> str | None:
        """``by`` as stored in history: "staff olga" → "staff:olga"."""
        if self.by is None:
            return None
        head, _, rest = self.by.strip().partition(" ")
        return f"{head}:{rest.strip()}" if rest and ":" not in self.by else self.by.strip()

    def matches(self, kind: str, actor: str) -> bool:
        if self.kind is not None and kind != self.kind and not kind.startswith(self.kind + "."):
            return False
        return self.actor is None or actor == self.actor


class Expectations(_Strict):
    contact: str | None = None
    bot: str | None = None
    account: str | None = None
    messages: list[MessageExpect] | None = None
    count: int | None = Field(default=None, ge=0)
    nothing_more: bool = False
    tags: TagsExpect | None = None
    runs: list[RunExpect] | None = None
    purchases: list[PurchaseExpect] | None = None
    notifications: list[NotificationExpect] | None = None
    variables: dict[str, Any] | None = None
    history: list[HistoryExpect] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Expectations:
        if self.nothing_more and self.messages is None:
            raise ValueError("nothing_more needs messages (for 'no messages at all' use count: 0)")
        checks = (self.messages, self.count, self.tags, self.runs, self.purchases)
        if all(c is None for c in (*checks, self.notifications, self.variables, self.history)):
            raise ValueError(
                "needs at least one check: messages, count, tags, runs, purchases, "
                "notifications, variables, history"
            )
        if self.bot is not None and self.account is not None:
            raise ValueError("give bot or account, not both")
        if self.count is not None and self.messages is not None and len(self.messages) > self.count:
            raise ValueError(
                f"count {self.count} is less than the {len(self.messages)} messages listed"
            )
        return self

    @property
    def checks_messages(self) -> bool:
        return self.messages is not None or self.count is not None


class _StepBase(_Strict):
    _internal: ClassVar[frozenset[str]] = frozenset({"number", "line"})
    number: int = 0  # 1-based position in ``steps``
    line: int = 0  # YAML line of the step

    @property
    def where(self) -> str:
        return f"step {self.number} (line {self.line})"


class _ContactChannel(_StepBase):
    """A step done by a contact in a bot (``bot``) or a manager's account (``account``);
    after parsing exactly one of the two is set."""

    contact: str
    bot: str | None = None
    account: str | None = None


class ContactSaysStep(_ContactChannel):
    says: str


class ContactStartsStep(_ContactChannel):
    start: str | None

    @field_validator("start", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)  # `start: 2024` is meant as text
        return value or None


class ContactPressesStep(_ContactChannel):
    presses: str = Field(min_length=1)


class ManagerSaysStep(_StepBase):
    manager: str
    to: str
    says: str


class WaitStep(_StepBase):
    wait: timedelta

    @field_validator("wait", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_duration(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError(
                f"{value!r} has no unit — write e.g. '{value}s', '{value}m' or '{value}h'"
            )
        raise ValueError("write a duration like 30s, 15m, 2h, 3d or 1d2h")


class ExpectStep(_StepBase):
    expect: Expectations


class StaffStep(_StepBase):
    """A staff action on a contact, done as the engine's staff actions do it (history and
    audit say ``staff:<staff>``)."""

    staff: str = Field(min_length=1)  # the staff user's login
    contact: str
    reason: str = ""


class StaffMoveStep(StaffStep):
    move_to: str = Field(min_length=1)  # node title, id or id prefix
    funnel: str | None = None  # whose run: the contact's latest run of this funnel


class StaffAddTagStep(StaffStep):
    add_tag: str = Field(min_length=1)


class StaffRemoveTagStep(StaffStep):
    remove_tag: str = Field(min_length=1)


class StaffStopStep(StaffStep):
    stop_run: str = Field(min_length=1)  # funnel name: the contact's live run of it


class StaffRestartStep(StaffStep):
    restart_run: str = Field(min_length=1)  # funnel name: the contact's latest run of it


class StaffRollbackStep(StaffStep):
    roll_back: str = Field(min_length=1)  # funnel name: the contact's latest run of it


Step = (
    ContactSaysStep
    | ContactStartsStep
    | ContactPressesStep
    | ManagerSaysStep
    | WaitStep
    | ExpectStep
    | StaffMoveStep
    | StaffAddTagStep
    | StaffRemoveTagStep
    | StaffStopStep
    | StaffRestartStep
    | StaffRollbackStep
)

_ACTIONS: dict[str, type[_StepBase]] = {
    "says": ContactSaysStep,
    "start": ContactStartsStep,
    "presses": ContactPressesStep,
    "wait": WaitStep,
    "expect": ExpectStep,
    "move_to": StaffMoveStep,
    "add_tag": StaffAddTagStep,
    "remove_tag": StaffRemoveTagStep,
    "stop_run": StaffStopStep,
    "restart_run": StaffRestartStep,
    "roll_back": StaffRollbackStep,
}
_STEP_MODELS: tuple[type[_StepBase], ...] = (*_ACTIONS.values(), ManagerSaysStep)
_ALL_STEP_KEYS = sorted({key for model in _STEP_MODELS for key in model.yaml_keys()})


class _Header(_Strict):
    project: str | None = None
    funnels: list[str] = Field(default_factory=list)
    bots: dict[str, str] = Field(default_factory=dict)
    managers: dict[str, ManagerSpec] = Field(default_factory=dict)
    contacts: dict[str, ContactSpec]
    start: datetime | None = None
    time_zone: str | None = None
    steps: list[Any]

    @field_validator("funnels", mode="before")
    @classmethod
    def _one_file(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("managers", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        return dict.fromkeys(value) if isinstance(value, list) else value

    @field_validator("bots")
    @classmethod
    def _usernames(cls, value: dict[str, str]) -> dict[str, str]:
        for role, username in value.items():
            if not BOT_USERNAME_RE.fullmatch(username.lstrip("@")):
                raise ValueError(
                    f"{role}: {username!r} is not a bot username (5–32 letters, digits, _; "
                    "ends in 'bot')"
                )
        return {role: username.lstrip("@") for role, username in value.items()}

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.strip())
            except ValueError:
                raise ValueError(
                    f'bad start time {value!r} — write e.g. "2024-05-06 10:00"'
                ) from None
        if isinstance(value, date) and not isinstance(value, datetime):
            return datetime.combine(value, time(0))
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r} (e.g. Europe/Moscow)") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> _Header:
        if self.project is None and not self.funnels:
            raise ValueError("say what to run: 'project: <name>' and/or 'funnels: [files]'")
        ids = [c.user_id for c in self.contacts.values()]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"contacts share a user_id: {', '.join(map(str, dup))}")
        if (
            self.start is not None
            and self.start.tzinfo is None
            and self.time_zone is None
            and not self.project
        ):
            raise ValueError("a start time without a zone needs time_zone")
        return self


class Scenario(BaseModel):
    """A parsed, checked scenario. Aliases in steps all exist; channels are resolved."""

    model_config = ConfigDict(frozen=True)

    project: str | None
    funnels: list[Path]
    bots: dict[str, str]
    managers: dict[str, ManagerSpec]
    contacts: dict[str, ContactSpec]
    start: datetime | None
    time_zone: str | None
    steps: list[Step]
    source: str | None = None

    def start_time(self, default_zone: tzinfo) -> datetime | None:
        """The start as an aware datetime; naive starts are wall time in the scenario's zone."""
        if self.start is None or self.start.tzinfo is not None:
            return self.start
        zone = ZoneInfo(self.time_zone) if self.time_zone else default_zone
        return self.start.replace(tzinfo=zone)


# --- YAML with line numbers ----------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """YAML 1.1 without its surprises: ``yes``/``no``/``on``/``off`` stay text (a button
    "Yes" must not become True); only ``true``/``false`` are booleans."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _compose(text: str) -> tuple[Any, yaml.Node | None]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return data, node


def _duplicate_keys(node: yaml.Node | None) -> list[ScenarioProblem]:
    found: list[ScenarioProblem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            if name in seen:
                found.append(
                    ScenarioProblem(f"duplicate key '{name}'", line=key.start_mark.line + 1)
                )
            seen.add(name)
            found.extend(_duplicate_keys(value))
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            found.extend(_duplicate_keys(item))
    return found


def _line(node: yaml.Node | None, path: tuple[int | str, ...]) -> int | None:
    """The line of the deepest node along ``path`` (a mapping key's own line for keys)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in path:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if str(k.value) == str(part)), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _field(path: tuple[int | str, ...]) -> str | None:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or None


def _problems(
    exc: ValidationError,
    node: yaml.Node | None,
    base: tuple[int | str, ...] = (),
    step: int | None = None,
) -> list[ScenarioProblem]:
    """Readable problems from pydantic's errors; ``base`` is the path of the validated value."""
    found = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if isinstance(p, int | str))
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "unknown_key":
            key = str((err.get("ctx") or {})["key"])
            found.append(
                ScenarioProblem(
                    message, line=_line(node, (*base, *loc, key)), step=step, field=_field(loc)
                )
            )
            continue
        if err["type"] == "missing":
            message = f"missing '{loc[-1]}'" if loc else "missing value"
            found.append(
                ScenarioProblem(
                    message, line=_line(node, (*base, *loc)), step=step, field=_field(loc[:-1])
                )
            )
            continue
        found.append(
            ScenarioProblem(message, line=_line(node, (*base, *loc)), step=step, field=_field(loc))
        )
    return found


# --- parsing -------------------------------------------------------------------------


class _Resolver:
    """Checks names used by steps and fills in the channel a step happens in."""

    def __init__(self, header: _Header, node: yaml.Node | None) -> None:
        self.header = header
        self.node = node
        self.problems: list[ScenarioProblem] = []
        self.last_contact: str | None = None
        self.channel_of: dict[str, tuple[str, str]] = {}  # contact -> ("bot"|"account", name)

    def problem(self, step: _StepBase, key: tuple[int | str, ...], message: str) -> None:
        line = _line(self.node, ("steps", step.number - 1, *key))
        self.problems.append(
            ScenarioProblem(message, line=line, step=step.number, field=_field(key))
        )

    def known(
        self,
        step: _StepBase,
        key: tuple[int | str, ...],
        name: str,
        what: str,
        pool: dict[str, Any],
    ) -> bool:
        if name in pool:
            return True
        hint = _suggest(name, list(pool)) or f" ({what}s: {', '.join(pool) or 'none'})"
        self.problem(step, key, f"unknown {what} '{name}'{hint}")
        return False

    def channel(
        self,
        step: _StepBase,
        contact: str,
        bot: str | None,
        account: str | None,
        prefix: tuple[str, ...] = (),
        bots_only: bool = False,
    ) -> tuple[str | None, str | None]:
        bots, managers = self.header.bots, self.header.managers
        if bot is not None and account is not None:
            self.problem(step, prefix, "give bot or account, not both")
            return bot, account
        if bot is not None:
            self.known(step, (*prefix, "bot"), bot, "bot", bots)
            return bot, None
        if account is not None:
            if bots_only:
                self.problem(step, (*prefix, "account"), "/start goes to a bot — use 'bot: <role>'")
            self.known(step, (*prefix, "account"), account, "manager", managers)
            return None, account
        last = self.channel_of.get(contact)
        if last is not None and not (bots_only and last[0] == "account"):
            return (last[1], None) if last[0] == "bot" else (None, last[1])
        if len(bots) == 1:
            return next(iter(bots)), None
        self.problem(
            step, prefix, f"say which bot — add 'bot: <role>' (bots: {', '.join(bots) or 'none'})"
        )
        return None, None

    def resolve(self, step: _StepBase) -> _StepBase:
        contacts = self.header.contacts
        if isinstance(step, _ContactChannel):
            if not self.known(step, ("contact",), step.contact, "contact", contacts):
                return step
            bot, account = self.channel(
                step,
                step.contact,
                step.bot,
                step.account,
                bots_only=isinstance(step, ContactStartsStep),
            )
            self._remember(step.contact, bot, account)
            return step.model_copy(update={"bot": bot, "account": account})
        if isinstance(step, ManagerSaysStep):
            self.known(step, ("manager",), step.manager, "manager", self.header.managers)
            self.known(step, ("to",), step.to, "contact", contacts)
            self._remember(step.to, None, step.manager)
            return step
        if isinstance(step, StaffStep):
            if self.known(step, ("contact",), step.contact, "contact", contacts):
                self.last_contact = step.contact
            return step
        if isinstance(step, ExpectStep):
            return self._expect(step)
        return step

    def _expect(self, step: ExpectStep) -> ExpectStep:
        exp = step.expect
        contact = exp.contact or self.last_contact
        if exp.contact is not None:
            if not self.known(
                step, ("expect", "contact"), exp.contact, "contact", self.header.contacts
            ):
                return step
        elif contact is None:
            self.problem(step, ("expect",), "whose? add 'contact: <alias>' (no contact acted yet)")
            return step
        assert contact is not None
        bot, account = exp.bot, exp.account
        if exp.checks_messages or bot is not None or account is not None:
            bot, account = self.channel(step, contact, bot, account, prefix=("expect",))
        self.last_contact = contact
        updated = exp.model_copy(update={"contact": contact, "bot": bot, "account": account})
        return step.model_copy(update={"expect": updated})

    def _remember(self, contact: str, bot: str | None, account: str | None) -> None:
        self.last_contact = contact
        if bot is not None:
            self.channel_of[contact] = ("bot", bot)
        elif account is not None:
            self.channel_of[contact] = ("account", account)


def _parse_step(
    raw: Any, number: int, node: yaml.Node | None
) -> tuple[_StepBase | None, list[ScenarioProblem]]:
    path: tuple[int | str, ...] = ("steps", number - 1)
    line = _line(node, path)

    def fail(message: str, key: str | None = None) -> tuple[None, list[ScenarioProblem]]:
        at = _line(node, (*path, key)) if key else line
        return None, [ScenarioProblem(message, line=at, step=number)]

    if not isinstance(raw, dict):
        return fail(
            f"a step is a mapping like 'contact: anna' + 'says: \"…\"', got {type(raw).__name__}"
        )
    actions = [key for key in _ACTIONS if key in raw]
    if len(actions) > 1:
        return fail(
            f"one action per step, got {' and '.join(repr(a) for a in actions)}", actions[1]
        )
    if not actions:
        unknown = [str(k) for k in raw if str(k) not in _ALL_STEP_KEYS]
        if unknown:
            hint = _suggest(unknown[0], _ALL_STEP_KEYS)
            return fail(f"unknown key '{unknown[0]}'{hint}", unknown[0])
        return fail(f"no action — a step needs one of: {', '.join(_ACTIONS)}")
    model = ManagerSaysStep if actions == ["says"] and "manager" in raw else _ACTIONS[actions[0]]
    try:
        step = model.model_validate(raw)
    except ValidationError as exc:
        return None, _problems(exc, node, path, step=number)
    return step.model_copy(update={"number": number, "line": line or 0}), []


def parse_scenario(text: str, source: str | None = None, base_dir: Path | None = None) -> Scenario:
    """Parse and check a scenario; raises :class:`ScenarioError` listing every problem.

    ``base_dir`` resolves relative funnel paths and checks that the files exist.
    """
    try:
        data, node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ScenarioError(
            [ScenarioProblem(f"not valid YAML: {exc.problem or exc}", line=line)], source
        ) from None
    if not isinstance(data, dict):
        raise ScenarioError(
            [ScenarioProblem("a scenario is a YAML mapping with 'contacts:' and 'steps:'", line=1)],
            source,
        )
    problems = _duplicate_keys(node)
    try:
        header = _Header.model_validate(data)
    except ValidationError as exc:
        problems += _problems(exc, node)
        raise ScenarioError(sorted(problems, key=lambda p: p.line or 0), source) from None
    funnels: list[Path] = []
    for i, name in enumerate(header.funnels):
        path = Path(name)
        if base_dir is not None:
            path = path if path.is_absolute() else base_dir / path
            if not path.is_file():
                problems.append(
                    ScenarioProblem(
                        f"file not found: {path}",
                        line=_line(node, ("funnels", i)),
                        field=f"funnels[{i}]",
                    )
                )
        funnels.append(path)
    if not header.steps:
        problems.append(ScenarioProblem("no steps", line=_line(node, ("steps",)), field="steps"))
    resolver = _Resolver(header, node)
    steps: list[Step] = []
    for number, raw in enumerate(header.steps, start=1):
        step, step_problems = _parse_step(raw, number, node)
        problems.extend(step_problems)
        if step is not None:
            steps.append(resolver.resolve(step))  # type: ignore[arg-type]
    problems.extend(resolver.problems)
    if problems:
        problems.sort(key=lambda p: (p.line or 0, p.step or 0))
        raise ScenarioError(problems, source)
    return Scenario(
        project=header.project,
        funnels=funnels,
        bots=header.bots,
        managers=header.managers,
        contacts=header.contacts,
        start=header.start,
        time_zone=header.time_zone,
        steps=steps,
        source=source,
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario file; funnel paths are relative to its folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(
            [ScenarioProblem(f"cannot read the file: {exc.strerror}")], str(path)
        ) from None
    return parse_scenario(text, source=str(path), base_dir=path.parent)


def doc_example() -> str:
    """The example from this module's documentation (kept valid by a test)."""
    doc = __doc__ or ""
    body = doc.split("# example-begin\n", 1)[1].split("    # example-end", 1)[0]
    return "\n".join(line.removeprefix("    ") for line in body.splitlines()) + "\n"
