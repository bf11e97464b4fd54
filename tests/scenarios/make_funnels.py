"""Regenerate the funnel files used by the scenarios: ``python -m tests.scenarios.make_funnels``."""

from __future__ import annotations

from pathlib import Path

from graph.loading import dump_funnel
from tests.engine.helpers import funnel

HERE = Path(__file__).parent / "funnels"

EMAIL = funnel(
    "Все узлы",
    {
        "Старт": ("trigger.contact_keyword", {"phrases": ["старт теста"], "source": "bot"}),
        "Спросить email": ("message", {"text": "Напишите email, {{first_name}}"}),
        "Ждём email": ("wait_reply", {"timeout": {"hours": 1}}),
        "Сохранить email": ("set_variable", {"name": "email", "validate": "email"}),
        "Неверный email": ("message", {"text": "Это не email"}),
        "Тег тест": ("tag_add", {"tags": ["тест"]}),
        "Проверка": (
            "condition",
            {
                "rules": [
                    {"kind": "has_tag", "tag": "тест"},
                    {"kind": "variable", "name": "email", "op": "contains", "value": "@"},
                ]
            },
        ),
        "Нет": ("message", {"text": "Условие не выполнено"}),
        "Сплит": ("randomizer", {"branches": [{"key": "a"}, {"key": "b"}]}),
        "Ветка A": ("message", {"text": "Ветка A: {{email}}"}),
        "Ветка B": ("message", {"text": "Ветка B: {{email}}"}),
        "Снять тег": ("tag_remove", {"tags": ["тест"]}),
        "Во вторую": ("goto_funnel", {"funnel": "Вторая"}),
        "Не дождались": ("message", {"text": "Не дождались ответа"}),
        "Конец": ("end", {}),
    },
    [
        ("Старт", "next", "Спросить email"),
        ("Спросить email", "next", "Ждём email"),
        ("Ждём email", "other", "Сохранить email"),
        ("Ждём email", "timeout", "Не дождались"),
        ("Не дождались", "next", "Конец"),
        ("Сохранить email", "invalid", "Неверный email"),
        ("Неверный email", "next", "Ждём email"),
        ("Сохранить email", "next", "Тег тест"),
        ("Тег тест", "next", "Проверка"),
        ("Проверка", "no", "Нет"),
        ("Проверка", "yes", "Сплит"),
        ("Сплит", "branch:a", "Ветка A"),
        ("Сплит", "branch:b", "Ветка B"),
        ("Ветка A", "next", "Снять тег"),
        ("Ветка B", "next", "Снять тег"),
        ("Снять тег", "next", "Во вторую"),
    ],
    reentry="always",
)

SECOND = funnel(
    "Вторая",
    {
        "Старт": ("trigger.start", {"bot_role": "free"}),
        "Привет": (
            "message",
            {"text": "Вы во второй воронке", "buttons": [{"id": "ok", "text": "Готово"}]},
        ),
        "Нажато": ("message", {"text": "Кнопка нажата", "protect_content": True}),
        "Час": ("delay", {"mode": "duration", "duration": {"hours": 1}}),
        "Прошёл час": ("message", {"text": "Прошёл час"}),
        "Покупка": ("record_purchase", {"product": "Матрица судьбы", "amount": "990"}),
        "Конец": ("end", {}),
    },
    [
        ("Старт", "next", "Привет"),
        ("Привет", "button:ok", "Нажато"),
        ("Нажато", "next", "Час"),
        ("Час", "next", "Прошёл час"),
        ("Прошёл час", "next", "Покупка"),
        ("Покупка", "next", "Конец"),
    ],
    reentry="always",
)

WHO = funnel(
    "Кто написал",
    {
        "Менеджер": ("trigger.manager_phrase", {"phrases": ["проверка связи"]}),
        "Ответ A": ("message", {"channel": "manager_account", "text": "Воронка A (менеджер)"}),
        "Контакт": ("trigger.contact_keyword", {"phrases": ["проверка связи"], "source": "any"}),
        "Ответ B": ("message", {"text": "Воронка B (контакт)"}),
        "Источник": (
            "trigger.start",
            {"bot_role": "open", "payload": "insta", "payload_match": "prefix"},
        ),
        "Инста": ("message", {"text": "Привет из Instagram", "reply_buttons": ["Хочу"]}),
        "Все": ("trigger.start", {"bot_role": "paid"}),
        "Стоп": ("stop_funnels", {"scope": "all"}),
        "Остановлено": ("message", {"text": "Все воронки остановлены"}),
    },
    [
        ("Менеджер", "next", "Ответ A"),
        ("Контакт", "next", "Ответ B"),
        ("Источник", "next", "Инста"),
        ("Все", "next", "Стоп"),
        ("Стоп", "next", "Остановлено"),
    ],
    reentry="always",
    notify_already_fired=False,
)

# A manager's code phrase that stops the open bot's funnels and tags the contact: what
# staff roll back when the manager wrote it to the wrong person.
PAID_COURSE = funnel(
    "Оплата курса",
    {
        "Оплата": ("trigger.manager_phrase", {"phrases": ["оплату за курс получила"]}),
        "Выбить": ("stop_funnels", {"scope": "bot", "bot_role": "open"}),
        "Тег": ("tag_add", {"tags": ["оплатил курс"]}),
        "Спасибо": (
            "message",
            {"channel": "manager_account", "text": "Спасибо за оплату курса!"},
        ),
        "Через день": ("delay", {"mode": "duration", "duration": {"days": 1}}),
        "Как курс": ("message", {"channel": "manager_account", "text": "Как вам курс?"}),
        "Конец": ("end", {}),
    },
    [
        ("Оплата", "next", "Выбить"),
        ("Выбить", "next", "Тег"),
        ("Тег", "next", "Спасибо"),
        ("Спасибо", "next", "Через день"),
        ("Через день", "next", "Как курс"),
        ("Как курс", "next", "Конец"),
    ],
    reentry="once",
)

FILES = (
    (EMAIL, "all_nodes.json"),
    (SECOND, "second.json"),
    (WHO, "who_wrote.json"),
    (PAID_COURSE, "paid_course.json"),
)

if __name__ == "__main__":
    HERE.mkdir(exist_ok=True)
    for doc, name in FILES:
        (HERE / name).write_text(dump_funnel(doc), encoding="utf-8")
