"""Small helpers to build funnel documents in tests."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from graph.document import FunnelDocument

EXAMPLE_PROPS: dict[str, dict[str, Any]] = {
    "trigger.manager_phrase": {"phrases": ["оплату за Таро получила"], "account": "Менеджер"},
    "trigger.contact_keyword": {"phrases": ["хочу"], "source": "bot", "bot_role": "open"},
    "trigger.start": {"bot_role": "open", "payload": "vk", "payload_match": "prefix"},
    "trigger.personal_link": {"product": "Таро"},
    "trigger.bot_arrival": {"bot_role": "free"},
    "trigger.tag_added": {"tag": "купил"},
    "message": {
        "text": "Привет, {{name}}! <b>Жирный</b>",
        "buttons": [
            {"id": "yes", "text": "Да"},
            {"id": "site", "text": "Сайт", "kind": "url", "url": "https://example.org"},
        ],
        "reply_buttons": ["Расскажи"],
        "media": [{"kind": "photo", "source": "media/a.jpg"}],
    },
    "delay": {"mode": "until_time", "time": "10:30", "weekdays": [0, 2]},
    "wait_reply": {"phrases": ["расскажи"], "timeout": {"hours": 5}},
    "condition": {
        "rules": [
            {"kind": "has_tag", "tag": "купил"},
            {"kind": "no_tag", "tag": "получил анализ"},
            {"kind": "variable", "name": "birth_date", "op": "exists"},
            {"kind": "datetime", "weekdays": [5, 6], "from_time": "22:00", "to_time": "06:00"},
            {"kind": "purchased", "product": "Таро"},
            {"kind": "reply_text", "phrases": ["да"]},
        ],
        "combine": "any",
    },
    "tag_add": {"tags": ["купил"]},
    "tag_remove": {"tags": ["купил"]},
    "set_variable": {"name": "birth_date", "validate": "date"},
    "randomizer": {"branches": [{"key": "a", "weight": 3}, {"key": "b", "weight": 1}]},
    "goto_funnel": {"funnel": "Оплата Таро"},
    "stop_funnels": {"scope": "bot", "bot_role": "open", "except_funnels": ["Таро: платный бот"]},
    "personal_link": {"product": "Таро", "expires_hours": 24},
    "wait_arrival": {"product": "Таро", "timeout": {"days": 2}},
    "notify_admins": {"text": "Чек потерян", "kind": "lost_receipt", "to_telegram": True},
    "record_purchase": {"product": "Таро", "amount": "1990.50"},
    "end": {},
}
"""Valid properties for every node type (reference the names of ``CATALOG``)."""


def node_id(key: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"test-node/{key}"))


class FunnelBuilder:
    """Build a document dict node by node; ``doc()`` loads it."""

    def __init__(self, name: str = "Тест") -> None:
        self.data: dict[str, Any] = {
            "schema_version": 1,
            "id": str(uuid.uuid4()),
            "name": name,
            "nodes": [],
            "edges": [],
        }

    def node(
        self, key: str, type_id: str, props: dict[str, Any] | None = None, **extra: Any
    ) -> str:
        if props is None:
            props = dict(EXAMPLE_PROPS.get(type_id, {}))
        x = 100.0 * len(self.data["nodes"])
        self.data["nodes"].append(
            {"id": node_id(key), "type": type_id, "props": props, "ui": {"x": x, "y": 0.0}, **extra}
        )
        return node_id(key)

    def edge(self, source: str, port: str, target: str, target_port: str = "in") -> None:
        self.data["edges"].append(
            {
                "source": node_id(source),
                "source_port": port,
                "target": node_id(target),
                "target_port": target_port,
            }
        )

    def doc(self) -> FunnelDocument:
        return FunnelDocument.model_validate(self.data)


def chain(*steps: tuple[str, str], name: str = "Тест") -> FunnelBuilder:
    """A straight line of (key, type) nodes joined by their ``next``/first output."""
    builder = FunnelBuilder(name)
    for key, type_id in steps:
        builder.node(key, type_id)
    for (a, _), (b, _) in itertools.pairwise(steps):
        builder.edge(a, "next", b)
    return builder
