"""Action nodes: stopping funnels, personal links and admin notifications (R3, R6–R9)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from graph.localtext import LocalText
from graph.node_type import NodeCategory, NodeType
from graph.nodes.base import BotRole, NodeProps, NonEmptyStr, PropIssue, is_variable_name


class StopFunnelsProps(NodeProps):
    scope: Literal["bot", "all"] = "bot"
    bot_role: BotRole = "open"
    include_this_funnel: bool = False
    except_funnels: list[NonEmptyStr] = Field(default_factory=list)


STOP_FUNNELS = NodeType(
    id="stop_funnels",
    category=NodeCategory.ACTION,
    title=LocalText("Выбить со всех ботов", "Stop funnels"),
    docs=LocalText(
        "Останавливает все активные и ожидающие запуски контакта (включая дожимы и их "
        "таймеры): в воронках бота bot_role (scope=bot) или во всех воронках проекта "
        "(scope=all), кроме воронок except_funnels и, если include_this_funnel выключен, "
        "текущей. Остановленный запуск помнит свой узел, поэтому откат ошибки менеджера "
        "возобновляет его с того же места.",
        "Stops every active and waiting run of the contact (follow-ups and their timers "
        "included): in the funnels of bot bot_role (scope=bot) or in all funnels of the "
        "project (scope=all), except except_funnels and, unless include_this_funnel, this "
        "one. A stopped run keeps its node, so rolling back a manager's mistake resumes it "
        "where it stopped.",
    ),
    props_model=StopFunnelsProps,
)


class PersonalLinkProps(NodeProps):
    product: NonEmptyStr = ""
    bot_role: BotRole = "paid"
    expires_hours: int | None = Field(default=None, ge=1)
    variable: NonEmptyStr = "link"
    # "bot": a /start deep link into bot bot_role; "chat": a one-person invite link
    # (member limit 1) to the private group/channel chat_id that bot administers
    target: Literal["bot", "chat"] = "bot"
    chat_id: int | None = None

    def issues(self) -> list[PropIssue]:
        found = []
        if not is_variable_name(self.variable):
            found.append(
                PropIssue("variable", "Not a valid variable name", "Недопустимое имя переменной")
            )
        if self.target == "chat" and self.chat_id is None:
            found.append(
                PropIssue(
                    "chat_id",
                    "An invite link needs the id of the private group or channel",
                    "Для ссылки-приглашения нужен id закрытой группы или канала",
                )
            )
        return found


PERSONAL_LINK = NodeType(
    id="personal_link",
    category=NodeCategory.ACTION,
    title=LocalText("Персональная ссылка", "Personal link"),
    docs=LocalText(
        "Создаёт персональную ссылку в бота bot_role на продукт product, привязанную к "
        "Telegram ID контакта, и записывает её в переменную variable (вставьте {{link}} в "
        "следующее сообщение). Действующая ссылка на тот же продукт используется повторно. "
        "expires_hours — срок действия (пусто = бессрочно). Переход по ссылке другим "
        "человеком ничего не даёт, администраторы получают уведомление. target=chat — "
        "вместо ссылки в бота одноразовая ссылка-приглашение (на одного человека, со "
        "сроком действия) в закрытую группу или канал chat_id, где бот bot_role — "
        "администратор; она создаётся при отправке сообщения, вступление по ней "
        "засчитывается как переход контакта по его ссылке.",
        "Creates a personal link into bot bot_role for product, bound to the contact's "
        "Telegram user id, and stores it in variable (put {{link}} into the next message). A "
        "still valid link for the same product is reused. expires_hours: lifetime (empty = no "
        "expiry). Anyone else opening the link gets nothing and the admins are notified. "
        "target=chat: instead of a bot link, a one-person invite link (member limit 1, with "
        "an expiry) to the private group or channel chat_id that bot bot_role administers; "
        "it is created when the message is sent, and joining through it counts as the "
        "contact's arrival through their link.",
    ),
    props_model=PersonalLinkProps,
)


class NotifyAdminsProps(NodeProps):
    text: NonEmptyStr = ""
    kind: Literal["info", "lost_receipt", "already_fired", "stuck", "error"] = "info"
    to_telegram: bool = False


NOTIFY_ADMINS = NodeType(
    id="notify_admins",
    category=NodeCategory.ACTION,
    title=LocalText("Уведомить администраторов", "Notify admins"),
    docs=LocalText(
        "Добавляет уведомление вида kind (info, lost_receipt — чек потерян, already_fired — "
        "триггер уже срабатывал, stuck — контакт застрял, error) с текстом text (шаблон) в "
        "блок уведомлений приложения; to_telegram — ещё и в админ-чат Telegram. Уведомление "
        "ссылается на контакт и его можно отметить решённым.",
        "Adds a notification of kind (info, lost_receipt, already_fired, stuck, error) with "
        "text (a template) to the app's notifications block; to_telegram also sends it to "
        "the admin Telegram chat. It links to the contact and can be marked resolved.",
    ),
    props_model=NotifyAdminsProps,
)


ACTION_TYPES = (STOP_FUNNELS, PERSONAL_LINK, NOTIFY_ADMINS)
