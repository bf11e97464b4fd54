"""Triggers: the events that start a funnel run for a contact (R1)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from graph.localtext import LocalText
from graph.matchspec import MatchSpec
from graph.node_type import NodeCategory, NodeType
from graph.nodes.base import BotRole, NodeProps, NonEmptyStr, PhraseList


class ManagerPhraseProps(NodeProps):
    phrases: PhraseList = Field(default_factory=list)
    match: MatchSpec = Field(default_factory=MatchSpec)
    account: NonEmptyStr | None = None


class ContactKeywordProps(NodeProps):
    phrases: PhraseList = Field(default_factory=list)
    match: MatchSpec = Field(default_factory=MatchSpec)
    source: Literal["bot", "manager_account", "any"] = "any"
    bot_role: BotRole | None = None


class StartProps(NodeProps):
    bot_role: BotRole = "open"
    payload: NonEmptyStr | None = None
    payload_match: Literal["exact", "prefix"] = "exact"


class PersonalLinkArrivalProps(NodeProps):
    product: NonEmptyStr = ""
    bot_role: BotRole = "paid"


class BotArrivalProps(NodeProps):
    bot_role: BotRole = "open"


class TagAddedProps(NodeProps):
    tag: NonEmptyStr = ""


def _trigger(type_id: str, props: type[NodeProps], title: LocalText, docs: LocalText) -> NodeType:
    return NodeType(
        id=type_id,
        category=NodeCategory.TRIGGER,
        title=title,
        docs=docs,
        props_model=props,
        is_trigger=True,
    )


MANAGER_PHRASE = _trigger(
    "trigger.manager_phrase",
    ManagerPhraseProps,
    LocalText("Кодовая фраза менеджера", "Manager's code phrase"),
    LocalText(
        "Запускает воронку для контакта, когда менеджер сам пишет ему кодовую фразу со своего "
        "аккаунта Telegram (исходящее сообщение), например «оплату за Таро получила». "
        "account — имя аккаунта менеджера; пусто = любой аккаунт проекта. Фразы сравниваются "
        "по правилам match. Сообщения от менеджера, запустившие воронку, задают канал "
        "«аккаунт менеджера» для узлов «Сообщение».",
        "Starts the funnel for a contact when a manager types a code phrase to them from the "
        "manager's own Telegram account (an outgoing message), e.g. \"оплату за Таро "
        'получила". account is the manager account name; empty = any account of the project. '
        "Phrases are compared by match. The triggering account becomes the "
        '"manager account" channel of message nodes.',
    ),
)

CONTACT_KEYWORD = _trigger(
    "trigger.contact_keyword",
    ContactKeywordProps,
    LocalText("Ключевое слово контакта", "Contact's keyword"),
    LocalText(
        "Запускает воронку, когда контакт пишет ключевое слово. source: в бота (bot, "
        "bot_role — роль бота, пусто = любой бот), в аккаунт менеджера (manager_account) "
        "или куда угодно (any). Фразы сравниваются по правилам match. Ответ контакта внутри "
        "ожидающей воронки сначала достаётся узлу «Ждать ответа».",
        "Starts the funnel when the contact writes a keyword. source: to a bot (bot; "
        "bot_role, empty = any bot), to a manager account (manager_account) or anywhere "
        "(any). Phrases are compared by match. A reply to a run that waits for a reply goes "
        "to that wait-for-reply node first.",
    ),
)

START = _trigger(
    "trigger.start",
    StartProps,
    LocalText("Команда /start", "/start command"),
    LocalText(
        "Запускает воронку, когда контакт нажимает /start в боте с ролью bot_role. payload — "
        "метка диплинка (источник трафика): пусто = любой /start, иначе payload_match "
        "exact (точное совпадение) или prefix (начинается с).",
        "Starts the funnel when the contact sends /start in the bot with role bot_role. "
        "payload is the deep-link payload (traffic source): empty = any /start, otherwise "
        "compared by payload_match: exact or prefix.",
    ),
)

PERSONAL_LINK_ARRIVAL = _trigger(
    "trigger.personal_link",
    PersonalLinkArrivalProps,
    LocalText("Переход по персональной ссылке", "Arrival by personal link"),
    LocalText(
        "Запускает воронку, когда контакт приходит в бота bot_role по своей персональной "
        "ссылке на продукт product. Чужой (пересланный) переход воронку не запускает, "
        "администраторы получают уведомление. Ожидающие «Ждать перехода» этого продукта "
        "продолжаются по выходу arrived.",
        "Starts the funnel when the contact arrives in bot bot_role through their own "
        "personal link of product. A forwarded link opened by someone else starts nothing "
        'and notifies the admins. Runs waiting in "wait for arrival" of this product '
        "continue along arrived.",
    ),
)

BOT_ARRIVAL = _trigger(
    "trigger.bot_arrival",
    BotArrivalProps,
    LocalText("Приход в бота", "Arrival in a bot"),
    LocalText(
        "Запускает воронку, когда контакт впервые подписывается на бота с ролью bot_role "
        "(первый /start или первое сообщение в этом боте).",
        "Starts the funnel when the contact first subscribes to the bot with role bot_role "
        "(their first /start or first message in that bot).",
    ),
)

TAG_ADDED = _trigger(
    "trigger.tag_added",
    TagAddedProps,
    LocalText("Добавлен тег", "Tag added"),
    LocalText(
        "Запускает воронку, когда контакту добавляется тег tag (узлом любой воронки или "
        "сотрудником). Уже стоящий тег повторно не срабатывает.",
        "Starts the funnel when tag is added to the contact (by a node of any funnel or by "
        "staff). A tag the contact already has does not fire again.",
    ),
)

TRIGGER_TYPES = (
    MANAGER_PHRASE,
    CONTACT_KEYWORD,
    START,
    PERSONAL_LINK_ARRIVAL,
    BOT_ARRIVAL,
    TAG_ADDED,
)
