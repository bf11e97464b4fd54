"""Short texts drawn on the canvas: a node's key property and its port labels.

Works on raw property dicts (invalid values included), never raises.
"""

from __future__ import annotations

import html
import re
from typing import Any

from desktop.i18n import language, tr, weekday_label
from graph.ports import BRANCH_PREFIX, BUTTON_PREFIX

_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def plain_text(markup: str) -> str:
    """Telegram HTML → one line of plain text."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub("", markup))).strip()


def format_duration(value: Any) -> str:
    """{"days": 1, "hours": 2} → "1 д 2 ч" (Russian) / "1 d 2 h"."""
    if not isinstance(value, dict):
        return "?"
    units = (
        ("days", "д", "d"),
        ("hours", "ч", "h"),
        ("minutes", "мин", "min"),
        ("seconds", "с", "s"),
    )
    parts = []
    for key, ru, en in units:
        amount = value.get(key) or 0
        if isinstance(amount, int) and amount:
            parts.append(f"{amount} {en if language() == 'en' else ru}")
    return " ".join(parts) or "0"


def _quote(text: str) -> str:
    return f"“{text}”" if language() == "en" else f"«{text}»"


def _first_of(values: Any, quote: bool = True) -> str:
    if not isinstance(values, list) or not values:
        return ""
    first = str(values[0])
    shown = _quote(first) if quote else first
    if len(values) > 1:
        shown += " " + tr("summary.more", n=len(values) - 1)
    return shown


def _weekdays(days: Any) -> str:
    if not isinstance(days, list):
        return ""
    return ", ".join(weekday_label(d) for d in days if isinstance(d, int) and 0 <= d <= 6)


def summary(type_id: str, props: dict[str, Any]) -> str:
    """The one-or-two-line description shown under a node's title."""
    try:
        return _summary(type_id, props)
    except Exception:  # a summary must never break drawing
        return ""


def _summary(type_id: str, p: dict[str, Any]) -> str:
    if type_id in ("trigger.manager_phrase", "trigger.contact_keyword"):
        return _first_of(p.get("phrases"))
    if type_id == "trigger.start":
        payload = p.get("payload")
        return f"/start {payload}" if payload else tr("summary.any_start")
    if type_id in ("trigger.personal_link", "wait_arrival", "record_purchase"):
        text = _quote(str(p.get("product") or "…"))
        if type_id == "wait_arrival":
            text += " · " + tr("summary.wait", d=format_duration(p.get("timeout")))
        if type_id == "record_purchase" and p.get("amount"):
            text += f" · {p['amount']} {p.get('currency') or ''}".rstrip()
        return text
    if type_id == "trigger.bot_arrival":
        return str(p.get("bot_role") or "")
    if type_id == "trigger.tag_added":
        return _quote(str(p.get("tag") or "…"))
    if type_id == "message":
        return _message(p)
    if type_id == "delay":
        mode = p.get("mode")
        if mode == "until_time":
            return tr("summary.until", time=p.get("time") or "…")
        if mode == "next_weekday":
            return f"{_weekdays(p.get('weekdays'))} {p.get('time') or '00:00'}".strip()
        return format_duration(p.get("duration"))
    if type_id == "wait_reply":
        head = tr("summary.wait", d=format_duration(p.get("timeout")))
        phrases = _first_of(p.get("phrases"))
        return f"{head} · {phrases or tr('summary.any_reply')}"
    if type_id == "condition":
        return _condition(p)
    if type_id == "randomizer":
        branches = p.get("branches") or []
        return " / ".join(
            f"{b.get('key')}: {b.get('weight', 1)}" for b in branches if isinstance(b, dict)
        )
    if type_id == "goto_funnel":
        return "→ " + _quote(str(p.get("funnel") or "…"))
    if type_id in ("tag_add", "tag_remove"):
        return ", ".join(_quote(str(t)) for t in p.get("tags") or [])
    if type_id == "set_variable":
        return f"{p.get('name') or '…'} = {p.get('value', '')}"
    if type_id == "stop_funnels":
        if p.get("scope") == "all":
            return tr("summary.scope_all")
        return tr("summary.scope_bot", role=p.get("bot_role") or "")
    if type_id == "personal_link":
        return f"{_quote(str(p.get('product') or '…'))} → {{{{{p.get('variable') or 'link'}}}}}"
    if type_id == "notify_admins":
        return plain_text(str(p.get("text") or ""))
    return ""


def _message(p: dict[str, Any]) -> str:
    text = plain_text(str(p.get("text") or ""))
    extras = []
    if p.get("media"):
        extras.append(tr("summary.media", n=len(p["media"])))
    if not text and not extras:
        return tr("summary.empty_message")
    return " · ".join(x for x in (text, *extras) if x)


def _condition(p: dict[str, Any]) -> str:
    rules = [r for r in p.get("rules") or [] if isinstance(r, dict)]
    if not rules:
        return tr("summary.rules", n=0)
    first = _rule(rules[0])
    if len(rules) > 1:
        joiner = " & " if p.get("combine", "all") == "all" else " | "
        first += joiner + tr("summary.more", n=len(rules) - 1)
    return first


def _rule(rule: dict[str, Any]) -> str:
    kind = rule.get("kind")
    en = language() == "en"
    if kind == "has_tag":
        return ("tag " if en else "есть тег ") + _quote(str(rule.get("tag")))
    if kind == "no_tag":
        return ("no tag " if en else "нет тега ") + _quote(str(rule.get("tag")))
    if kind == "purchased":
        return ("bought " if en else "купил ") + _quote(str(rule.get("product")))
    if kind == "reply_text":
        return ("reply " if en else "ответ ") + _first_of(rule.get("phrases"))
    if kind == "variable":
        op = str(rule.get("op", "eq"))
        if op == "exists":
            return f"{rule.get('name')} " + ("is set" if en else "задана")
        if op == "contains":
            word = "contains" if en else "содержит"
            return f"{rule.get('name')} {word} {_quote(str(rule.get('value', '')))}"
        sign = {"eq": "=", "neq": "≠", "gt": ">", "lt": "<"}.get(op, op)
        return f"{rule.get('name')} {sign} {rule.get('value', '')}".strip()
    if kind == "datetime":
        parts = [_weekdays(rule.get("weekdays"))]
        if rule.get("from_time") or rule.get("to_time"):
            parts.append(f"{rule.get('from_time') or '…'}–{rule.get('to_time') or '…'}")
        return " ".join(p for p in parts if p) or "datetime"
    return str(kind)


def port_label(port: str, props: dict[str, Any]) -> str:
    """What a port is called on the canvas (button text for a button's output)."""
    if port.startswith(BUTTON_PREFIX):
        button_id = port[len(BUTTON_PREFIX) :]
        for button in props.get("buttons") or []:
            if isinstance(button, dict) and button.get("id") == button_id:
                return str(button.get("text") or button_id)
        return button_id
    if port.startswith(BRANCH_PREFIX):
        return tr("port.branch", key=port[len(BRANCH_PREFIX) :])
    key = f"port.{port}"
    label = tr(key)
    return port if label == key else label
