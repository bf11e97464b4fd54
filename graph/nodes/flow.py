"""Flow nodes: waiting, branching, jumping and ending (R3)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from graph.localtext import LocalText
from graph.matchspec import MatchSpec
from graph.node_type import NodeCategory, NodeType
from graph.nodes.base import Key, NodeProps, NonEmptyStr, PhraseList, PropIssue
from graph.ports import BRANCH_PREFIX, branch_port
from graph.timing import Duration, TimeOfDay, Weekday


def _positive(duration: Duration, field: str) -> list[PropIssue]:
    if duration.total_seconds() > 0:
        return []
    return [
        PropIssue(
            field, "The duration must be longer than zero", "Длительность должна быть больше нуля"
        )
    ]


def _unique(values: list[str], field: str, what_en: str, what_ru: str) -> list[PropIssue]:
    seen: set[str] = set()
    found = []
    for i, value in enumerate(values):
        if value in seen:
            found.append(
                PropIssue(
                    f"{field}.{i}",
                    f"{what_en} {value!r} is used twice",
                    f"{what_ru} {value!r} повторяется",
                )
            )
        seen.add(value)
    return found


# --- delay -------------------------------------------------------------------------------


class DelayProps(NodeProps):
    mode: Literal["duration", "until_time", "next_weekday"] = "duration"
    duration: Duration = Field(default_factory=lambda: Duration(hours=1))
    time: TimeOfDay | None = None
    allowed_hours_from: Annotated[int, Field(ge=0, le=24)] | None = None
    allowed_hours_to: Annotated[int, Field(ge=0, le=24)] | None = None
    weekdays: list[Weekday] = Field(default_factory=list)

    def issues(self) -> list[PropIssue]:
        found: list[PropIssue] = []
        if self.mode == "duration":
            found += _positive(self.duration, "duration")
        if self.mode in ("until_time", "next_weekday") and self.time is None:
            found.append(PropIssue("time", "Set the time of day", "Укажите время"))
        if self.mode == "next_weekday" and not self.weekdays:
            found.append(
                PropIssue(
                    "weekdays", "Choose at least one weekday", "Выберите хотя бы один день недели"
                )
            )
        if (self.allowed_hours_from is None) != (self.allowed_hours_to is None):
            found.append(
                PropIssue(
                    "allowed_hours_to",
                    "Set both ends of the allowed hours or neither",
                    "Укажите оба края разрешённых часов или ни одного",
                )
            )
        elif (
            self.allowed_hours_from is not None and self.allowed_hours_from == self.allowed_hours_to
        ):
            found.append(
                PropIssue(
                    "allowed_hours_to",
                    "The allowed hours are an empty window",
                    "Окно разрешённых часов пустое",
                )
            )
        if len(set(self.weekdays)) != len(self.weekdays):
            found.append(
                PropIssue("weekdays", "A weekday is listed twice", "День недели указан дважды")
            )
        return found


DELAY = NodeType(
    id="delay",
    category=NodeCategory.FLOW,
    title=LocalText("Задержка", "Delay"),
    docs=LocalText(
        "Ждёт и идёт дальше по next. mode: duration — ждать заданное время; until_time — до "
        "ближайшего времени time; next_weekday — до времени time (по умолчанию 00:00) в "
        "ближайший следующий день из weekdays. Если заданы разрешённые часы "
        "(allowed_hours_from–allowed_hours_to, можно через полночь) или дни недели weekdays, "
        "момент переносится на начало ближайшего разрешённого окна. Время — в часовом поясе "
        "проекта.",
        "Waits, then continues along next. mode: duration waits the given time; until_time "
        "waits until the next occurrence of time; next_weekday waits until time (00:00 when "
        "empty) on the next later day listed in weekdays. With allowed hours "
        "(allowed_hours_from–allowed_hours_to, may wrap past midnight) or weekdays, the moment "
        "moves to the start of the next allowed window. Times use the project time zone.",
    ),
    props_model=DelayProps,
    is_waiting=True,
)


# --- wait for reply ----------------------------------------------------------------------


class WaitReplyProps(NodeProps):
    timeout: Duration = Field(default_factory=lambda: Duration(days=1))
    phrases: list[NonEmptyStr] = Field(default_factory=list)
    match: MatchSpec = Field(default_factory=MatchSpec)

    def issues(self) -> list[PropIssue]:
        return _positive(self.timeout, "timeout")


WAIT_REPLY = NodeType(
    id="wait_reply",
    category=NodeCategory.FLOW,
    title=LocalText("Ждать ответа", "Wait for reply"),
    docs=LocalText(
        "Ждёт сообщения контакта не дольше timeout. Ответ, совпавший с одной из фраз phrases "
        "(по правилам match), ведёт в matched; любой другой ответ (или любой ответ, если фраз "
        "нет) — в other; если ответа не было — в timeout. Текст ответа сохраняется в "
        "переменную last_reply.",
        "Waits up to timeout for the contact's message. A reply matching one of phrases "
        "(compared by match) goes to matched; any other reply (any reply when there are no "
        "phrases) goes to other; no reply in time goes to timeout. The reply text is stored in "
        "the variable last_reply.",
    ),
    props_model=WaitReplyProps,
    outputs=("matched", "other", "timeout"),
    is_waiting=True,
)


# --- condition ---------------------------------------------------------------------------


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HasTagRule(_Rule):
    kind: Literal["has_tag"] = "has_tag"
    tag: NonEmptyStr


class NoTagRule(_Rule):
    kind: Literal["no_tag"] = "no_tag"
    tag: NonEmptyStr


class VariableRule(_Rule):
    kind: Literal["variable"] = "variable"
    name: NonEmptyStr
    op: Literal["eq", "neq", "contains", "exists", "gt", "lt"] = "eq"
    value: str = ""


class DateTimeRule(_Rule):
    kind: Literal["datetime"] = "datetime"
    weekdays: list[Weekday] = Field(default_factory=list)
    from_time: TimeOfDay | None = None
    to_time: TimeOfDay | None = None
    date_from: date | None = None
    date_to: date | None = None


class PurchasedRule(_Rule):
    kind: Literal["purchased"] = "purchased"
    product: NonEmptyStr


class ReplyTextRule(_Rule):
    kind: Literal["reply_text"] = "reply_text"
    phrases: PhraseList
    match: MatchSpec = Field(default_factory=MatchSpec)


Rule = Annotated[
    HasTagRule | NoTagRule | VariableRule | DateTimeRule | PurchasedRule | ReplyTextRule,
    Field(discriminator="kind"),
]


class ConditionProps(NodeProps):
    rules: Annotated[list[Rule], Field(min_length=1)] = Field(default_factory=list)
    combine: Literal["all", "any"] = "all"

    def issues(self) -> list[PropIssue]:
        found: list[PropIssue] = []
        for i, rule in enumerate(self.rules):
            if isinstance(rule, DateTimeRule):
                if not (
                    rule.weekdays
                    or rule.from_time
                    or rule.to_time
                    or rule.date_from
                    or rule.date_to
                ):
                    found.append(
                        PropIssue(
                            f"rules.{i}",
                            "The date/time rule is empty",
                            "Правило даты/времени пустое",
                        )
                    )
                if rule.date_from and rule.date_to and rule.date_from > rule.date_to:
                    found.append(
                        PropIssue(
                            f"rules.{i}.date_to",
                            "date_to is before date_from",
                            "Дата «по» раньше даты «с»",
                        )
                    )
        return found


CONDITION = NodeType(
    id="condition",
    category=NodeCategory.FLOW,
    title=LocalText("Условие", "Condition"),
    docs=LocalText(
        "Проверяет правила и идёт в yes или no. combine: all — должны выполниться все правила, "
        "any — хотя бы одно. Правила: has_tag/no_tag — есть/нет тега; variable — сравнение "
        "переменной (eq, neq, contains, exists; gt/lt сравнивают числа или даты); datetime — "
        "сейчас подходящий день недели, время с–по (можно через полночь) и даты с–по; "
        "purchased — контакт покупал продукт; reply_text — последний ответ совпадает с "
        "фразами.",
        "Checks its rules and continues along yes or no. combine: all — every rule holds, "
        "any — at least one. Rules: has_tag/no_tag — the contact has / lacks a tag; variable — "
        "compares a variable (eq, neq, contains, exists; gt/lt compare numbers or dates); "
        "datetime — now is within the weekdays, the from–to times (may wrap past midnight) and "
        "the dates; purchased — the contact bought the product; reply_text — the last reply "
        "matches the phrases.",
    ),
    props_model=ConditionProps,
    outputs=("yes", "no"),
)


# --- randomizer --------------------------------------------------------------------------


class Branch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: Key
    weight: int = Field(default=1, ge=1)


def _two_branches() -> list[Branch]:
    return [Branch(key="a"), Branch(key="b")]


class RandomizerProps(NodeProps):
    branches: Annotated[list[Branch], Field(min_length=2)] = Field(default_factory=_two_branches)
    sticky: bool = True

    def dynamic_outputs(self) -> list[str]:
        return [branch_port(b.key) for b in self.branches]

    def issues(self) -> list[PropIssue]:
        return _unique([b.key for b in self.branches], "branches", "Branch key", "Ключ ветки")


RANDOMIZER = NodeType(
    id="randomizer",
    category=NodeCategory.FLOW,
    title=LocalText("Рандомайзер (A/B)", "Randomizer (A/B)"),
    docs=LocalText(
        "Случайно выбирает ветку branch:<key> с вероятностью, пропорциональной weight. "
        "sticky: контакт, уже проходивший этот узел, снова попадает в ту же ветку.",
        "Picks a branch branch:<key> at random, with probability proportional to weight. "
        "sticky: a contact who passed this node before gets the same branch again.",
    ),
    props_model=RandomizerProps,
    outputs=(),
    dynamic_prefixes=(BRANCH_PREFIX,),
)


# --- goto funnel / end -------------------------------------------------------------------


class GotoFunnelProps(NodeProps):
    funnel: NonEmptyStr = ""
    node: UUID | None = None


GOTO_FUNNEL = NodeType(
    id="goto_funnel",
    category=NodeCategory.FLOW,
    title=LocalText("Перейти в воронку", "Go to funnel"),
    docs=LocalText(
        "Завершает текущий запуск и запускает для контакта воронку funnel (по имени): с узла "
        "node, если он задан, иначе так, будто сработал её триггер (с узла после триггера). "
        "Правила повторного входа целевой воронки соблюдаются.",
        "Ends this run and starts the funnel named funnel for the contact: at node when set, "
        "otherwise as if its trigger fired (at the node after the trigger). The target's "
        "re-entry setting applies.",
    ),
    props_model=GotoFunnelProps,
    outputs=(),
)


class EndProps(NodeProps):
    pass


END = NodeType(
    id="end",
    category=NodeCategory.FLOW,
    title=LocalText("Конец", "End"),
    docs=LocalText(
        "Завершает запуск воронки для контакта. Теги и переменные остаются.",
        "Finishes the contact's run of this funnel. Tags and variables stay.",
    ),
    props_model=EndProps,
    outputs=(),
)


# --- wait for arrival --------------------------------------------------------------------


class WaitArrivalProps(NodeProps):
    product: NonEmptyStr = ""
    timeout: Duration = Field(default_factory=lambda: Duration(days=1))

    def issues(self) -> list[PropIssue]:
        return _positive(self.timeout, "timeout")


WAIT_ARRIVAL = NodeType(
    id="wait_arrival",
    category=NodeCategory.FLOW,
    title=LocalText("Ждать перехода", "Wait for arrival"),
    docs=LocalText(
        "Ждёт, пока контакт перейдёт по своей персональной ссылке на продукт product: "
        "пришёл — выход arrived, не пришёл за timeout — выход timeout. Если контакт уже "
        "пришёл раньше, сразу идёт в arrived.",
        "Waits until the contact arrives through their personal link of product: arrived "
        "when they do, timeout when they do not within timeout. A contact who already arrived "
        "goes to arrived at once.",
    ),
    props_model=WaitArrivalProps,
    outputs=("arrived", "timeout"),
    is_waiting=True,
)


FLOW_TYPES = (DELAY, WAIT_REPLY, CONDITION, RANDOMIZER, GOTO_FUNNEL, WAIT_ARRIVAL, END)
