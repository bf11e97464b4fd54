"""Data nodes: tags, variables and purchases of the contact (R3, R4, R11)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from graph.localtext import LocalText
from graph.node_type import NodeCategory, NodeType
from graph.nodes.base import NodeProps, NonEmptyStr, PropIssue, is_variable_name


class TagsProps(NodeProps):
    tags: Annotated[list[NonEmptyStr], Field(min_length=1)] = Field(default_factory=list)


TAG_ADD = NodeType(
    id="tag_add",
    category=NodeCategory.DATA,
    title=LocalText("Добавить теги", "Add tags"),
    docs=LocalText(
        "Добавляет контакту теги tags. Теги постоянные: остаются после отписки, блокировки и "
        "повторного входа и видны во всех ботах проекта; снять их может только узел «Снять "
        "теги» или сотрудник.",
        "Adds tags to the contact. Tags are permanent: they survive unsubscribe, block and "
        "re-entry and are seen in every bot of the project; only a remove-tags node or staff "
        "removes them.",
    ),
    props_model=TagsProps,
)

TAG_REMOVE = NodeType(
    id="tag_remove",
    category=NodeCategory.DATA,
    title=LocalText("Снять теги", "Remove tags"),
    docs=LocalText(
        "Снимает с контакта теги tags (действие записывается в историю). Отсутствующие теги "
        "пропускаются.",
        "Removes tags from the contact (logged in the history). Tags the contact lacks are "
        "skipped.",
    ),
    props_model=TagsProps,
)


class SetVariableProps(NodeProps):
    name: NonEmptyStr = ""
    value: str = "{{last_reply}}"
    validate_as: Literal["none", "date", "number", "email", "phone", "regex"] = Field(
        default="none", alias="validate"
    )
    pattern: str | None = None
    retention: Literal["keep", "clear_on_unsubscribe"] = "keep"

    model_config = {"populate_by_name": True, "serialize_by_alias": True}

    def issues(self) -> list[PropIssue]:
        found: list[PropIssue] = []
        if self.name and not is_variable_name(self.name):
            found.append(
                PropIssue(
                    "name",
                    "A variable name has letters, digits and _ and does not start with a digit",
                    "Имя переменной — буквы, цифры и _, не с цифры",
                )
            )
        if self.validate_as == "regex":
            if not self.pattern:
                found.append(
                    PropIssue(
                        "pattern", "Give the pattern to check against", "Укажите шаблон проверки"
                    )
                )
            else:
                try:
                    re.compile(self.pattern)
                except re.error as exc:
                    found.append(
                        PropIssue(
                            "pattern",
                            f"The pattern is not a valid regex: {exc}",
                            f"Шаблон с ошибкой: {exc}",
                        )
                    )
        return found


SET_VARIABLE = NodeType(
    id="set_variable",
    category=NodeCategory.DATA,
    title=LocalText("Записать переменную", "Set variable"),
    docs=LocalText(
        "Записывает в переменную name значение value (шаблон, например {{last_reply}} — "
        "последний ответ). validate проверяет значение: date (дата рождения вида 12.03.1990, "
        "сохраняется как ДД.ММ.ГГГГ), number, email, phone, regex (по шаблону pattern). "
        "Неверное значение не записывается, воронка идёт в invalid; иначе в next. "
        "retention: keep — хранить всегда, clear_on_unsubscribe — стереть при отписке.",
        "Stores value (a template such as {{last_reply}}, the last reply) in the variable "
        "name. validate checks it: date (a birth date like 12.03.1990, stored as DD.MM.YYYY), "
        "number, email, phone, regex (against pattern). An invalid value is not stored and "
        "the run goes to invalid, otherwise to next. retention: keep — forever, "
        "clear_on_unsubscribe — erased when the contact unsubscribes.",
    ),
    props_model=SetVariableProps,
    outputs=("next", "invalid"),
)


Amount = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{1,12}(\.\d{1,2})?$")]


class RecordPurchaseProps(NodeProps):
    product: NonEmptyStr = ""
    amount: Amount | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "RUB"


RECORD_PURCHASE = NodeType(
    id="record_purchase",
    category=NodeCategory.DATA,
    title=LocalText("Записать покупку", "Record purchase"),
    docs=LocalText(
        "Записывает покупку продукта product в таблицу покупок (сумма amount, валюта "
        "currency — необязательно). Ставьте узел там, где покупка подтверждена: в платном "
        "боте после перехода, а не при срабатывании триггера менеджера.",
        "Records a purchase of product in the purchases table (optional amount and "
        "currency). Place it where the purchase is confirmed: in the paid bot on arrival, not "
        "when the manager's trigger fires.",
    ),
    props_model=RecordPurchaseProps,
)


DATA_TYPES = (TAG_ADD, TAG_REMOVE, SET_VARIABLE, RECORD_PURCHASE)
