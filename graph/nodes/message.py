"""The message node: text, media and buttons sent to the contact (R3)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from graph.localtext import LocalText
from graph.node_type import NodeCategory, NodeType
from graph.nodes.base import BotRole, Key, NodeProps, NonEmptyStr, PropIssue
from graph.nodes.telegram_html import html_problems
from graph.ports import BUTTON_PREFIX, NEXT, button_port

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024


class Media(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["photo", "video", "document", "voice", "audio", "animation"]
    source: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    """A file path (relative to the project's media folder), an URL or a Telegram file_id."""


class InlineButton(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Key
    text: NonEmptyStr
    kind: Literal["callback", "url"] = "callback"
    url: NonEmptyStr | None = None


class MessageProps(NodeProps):
    channel: Literal["contact_bot", "bot", "manager_account"] = "contact_bot"
    bot_role: BotRole | None = None
    text: str = ""
    media: list[Media] = Field(default_factory=list)
    buttons: list[InlineButton] = Field(default_factory=list)
    reply_buttons: list[NonEmptyStr] = Field(default_factory=list)
    protect_content: bool = False
    disable_link_preview: bool = False

    def dynamic_outputs(self) -> list[str]:
        return [button_port(b.id) for b in self.buttons if b.kind == "callback"]

    def issues(self) -> list[PropIssue]:
        found: list[PropIssue] = []
        if self.channel == "bot" and self.bot_role is None:
            found.append(
                PropIssue(
                    "bot_role",
                    "Choose the bot (role) that sends this message",
                    "Выберите бота (роль), который отправит сообщение",
                )
            )
        if not self.text.strip() and not self.media:
            found.append(
                PropIssue("text", "The message has no text and no media", "Сообщение пустое")
            )
        limit = CAPTION_LIMIT if self.media else TEXT_LIMIT
        if len(self.text) > limit:
            found.append(
                PropIssue(
                    "text",
                    f"The text is longer than Telegram's limit of {limit} characters",
                    f"Текст длиннее лимита Telegram ({limit} символов)",
                )
            )
        found.extend(PropIssue("text", en, ru) for en, ru in html_problems(self.text))
        seen: set[str] = set()
        for i, button in enumerate(self.buttons):
            if button.id in seen:
                found.append(
                    PropIssue(
                        f"buttons.{i}.id",
                        f"Button id {button.id!r} is used twice",
                        f"Идентификатор кнопки {button.id!r} повторяется",
                    )
                )
            seen.add(button.id)
            if button.kind == "url" and not button.url:
                found.append(
                    PropIssue(
                        f"buttons.{i}.url",
                        "A URL button needs a URL",
                        "Для кнопки-ссылки нужен адрес",
                    )
                )
        return found


MESSAGE = NodeType(
    id="message",
    category=NodeCategory.MESSAGE,
    title=LocalText("Сообщение", "Message"),
    docs=LocalText(
        "Отправляет контакту текст (HTML-разметка Telegram, подстановки {{переменная}}), медиа, "
        "инлайн-кнопки и/или клавиатуру. channel: бот контакта (contact_bot), бот с ролью "
        "bot_role (bot) или аккаунт менеджера, чьё сообщение запустило воронку "
        "(manager_account). protect_content запрещает пересылку и сохранение. После отправки "
        "воронка идёт по выходу next, если он подключён. Нажатие callback-кнопки позже ведёт "
        "по её выходу button:<id>. Если next не подключён, а кнопки подключены, контакт ждёт "
        "здесь нажатия.",
        "Sends the contact text (Telegram HTML subset, {{variable}} placeholders), media, "
        "inline buttons and/or a reply keyboard. channel: the contact's bot (contact_bot), the "
        "bot with role bot_role (bot), or the manager account whose message triggered the run "
        "(manager_account). protect_content forbids forwarding and saving. After sending, the "
        "run continues along next when it is connected. Pressing a callback button later "
        "moves the run along its output button:<id>. When next is unconnected and buttons "
        "are connected, the run waits here for a press.",
    ),
    props_model=MessageProps,
    outputs=(NEXT,),
    dynamic_prefixes=(BUTTON_PREFIX,),
    deferred_prefixes=(BUTTON_PREFIX,),
)
