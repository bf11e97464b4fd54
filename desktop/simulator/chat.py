"""The chat of the simulator: Telegram-like bubbles, inline buttons, date and time notes.

:class:`ChatView` shows one chat's transcript (``connectors.simulator.TranscriptEntry``)
merged with the simulator's own notes ("time jumped…"). It appends what is new instead of
rebuilding, and reports presses (``buttonPressed(callback_data or url)``) and clicks on
links (``linkClicked(url)``); it never talks to the engine itself.
"""

from __future__ import annotations

import html
import re
from datetime import datetime, tzinfo
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from connectors.simulator import Direction, TranscriptEntry
from desktop.i18n import language, register

_STRINGS: dict[str, tuple[str, str]] = {
    "media.photo": ("[Фото]", "[Photo]"),
    "media.video": ("[Видео]", "[Video]"),
    "media.document": ("[Файл]", "[File]"),
    "media.audio": ("[Аудио]", "[Audio]"),
    "media.voice": ("[Голосовое сообщение]", "[Voice message]"),
    "media.video_note": ("[Видеосообщение]", "[Video note]"),
    "media.animation": ("[GIF]", "[GIF]"),
    "media.other": ("[Вложение]", "[Attachment]"),
    "protected": ("защищено от пересылки", "protected from forwarding"),
    "by_manager": ("менеджер вручную", "typed by the manager"),
    "empty": (
        "Здесь появится переписка.\nНачните с /start или напишите сообщение.",
        "The conversation appears here.\nStart with /start or write a message.",
    ),
}

t = register("simulator.chat", _STRINGS)

MONTHS_RU = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
             "сентября", "октября", "ноября", "декабря")  # fmt: skip

BOT_BUBBLE = "#ffffff"
CONTACT_BUBBLE = "#dcf8c6"
MANAGER_BUBBLE = "#fff4d6"
CHAT_BACKGROUND = "#e6ebee"

_URL = re.compile(r"(?<![\"'=>])(https?://[^\s<]+)")


def telegram_html_to_qt(text: str) -> str:
    """Telegram's HTML subset as Qt rich text: line breaks, spoilers, bare links."""
    out = text.replace("\r\n", "\n")
    out = re.sub(r"<tg-spoiler>(.*?)</tg-spoiler>", r'<span style="background:#bbb">\1</span>',
                 out, flags=re.S)  # fmt: skip
    out = re.sub(r'<span class="tg-spoiler">(.*?)</span>', r'<span style="background:#bbb">\1</span>',
                 out, flags=re.S)  # fmt: skip
    out = re.sub(r"<blockquote[^>]*>", '<div style="border-left:3px solid #6ab3f3;'
                 'padding-left:6px;color:#333">', out)  # fmt: skip
    out = out.replace("</blockquote>", "</div>")
    if "<a " not in out:
        out = _URL.sub(r'<a href="\1">\1</a>', out)
    return out.replace("\n", "<br>")


def date_label(when: datetime) -> str:
    if language() == "ru":
        return f"{when.day} {MONTHS_RU[when.month - 1]} {when.year}"
    return f"{when:%B} {when.day}, {when.year}"  # no %-d: Windows strftime lacks it


class Bubble(QFrame):
    """One message: optional header, media placeholders, text, a small time stamp."""

    linkClicked = Signal(str)

    def __init__(self, entry: TranscriptEntry, tz: tzinfo, *, mine: bool, header: str = "") -> None:
        super().__init__()
        self.entry = entry
        if entry.direction is Direction.FROM_CONTACT:
            color = CONTACT_BUBBLE
        elif entry.direction is Direction.FROM_MANAGER:
            color = MANAGER_BUBBLE
        else:
            color = BOT_BUBBLE
        self.setObjectName("bubble")
        self.setStyleSheet(
            f"QFrame#bubble {{ background: {color}; border-radius: 10px;"
            " border: 1px solid #d3dbe0; }"
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 5)
        layout.setSpacing(3)
        if header:
            head = QLabel(header)
            head.setStyleSheet("color: #b07d12; font-size: 11px; font-weight: 600;")
            layout.addWidget(head)
        for media in entry.media:
            key = f"media.{media.kind}"
            label = t(key) if key.split(".", 1)[1] in _MEDIA_KINDS else t("media.other")
            box = QLabel(f"{label}<br><span style='color:#666;font-size:11px'>"
                         f"{html.escape(media.source[-48:])}</span>")  # fmt: skip
            box.setTextFormat(Qt.TextFormat.RichText)
            box.setStyleSheet(
                "background: #cfd8dc; border-radius: 6px; padding: 14px 10px; color: #37474f;"
            )
            box.setAlignment(Qt.AlignmentFlag.AlignCenter)
            layout.addWidget(box)
        self.text_label = QLabel()
        self.text_label.setTextFormat(Qt.TextFormat.RichText)
        self.text_label.setWordWrap(True)
        self.text_label.setStyleSheet("color: #111; font-size: 13px; background: transparent;")
        self.text_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.LinksAccessibleByMouse
        )
        self.text_label.setOpenExternalLinks(False)
        self.text_label.linkActivated.connect(self.linkClicked.emit)
        if entry.direction is Direction.TO_CONTACT:
            self.text_label.setText(telegram_html_to_qt(entry.text))
        else:
            self.text_label.setText(html.escape(entry.text).replace("\n", "<br>"))
        if entry.text:
            layout.addWidget(self.text_label)
        stamp = entry.at.astimezone(tz).strftime("%H:%M")
        if entry.protect_content:
            stamp = f"{t('protected')}  ·  {stamp}"
        time_label = QLabel(stamp)
        time_label.setStyleSheet("color: #7a8a99; font-size: 10px; background: transparent;")
        time_label.setAlignment(Qt.AlignmentFlag.AlignRight)
        layout.addWidget(time_label)
        self.mine = mine

    def text(self) -> str:
        return self.text_label.text()


_MEDIA_KINDS = {"photo", "video", "document", "audio", "voice", "video_note", "animation"}


class ChatView(QScrollArea):
    """The transcript of one chat as bubbles (the contact's own messages on the right)."""

    buttonPressed = Signal(str)  # callback data, or a URL button's url
    linkClicked = Signal(str)

    BUBBLE_WIDTH = 330

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)
        inner = QWidget()
        inner.setObjectName("chat")
        inner.setStyleSheet(f"QWidget#chat {{ background: {CHAT_BACKGROUND}; }}")
        self.column = QVBoxLayout(inner)
        self.column.setContentsMargins(10, 10, 10, 10)
        self.column.setSpacing(6)
        self.column.addStretch(1)
        self.setWidget(inner)
        self._empty = QLabel(t("empty"))
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._empty.setStyleSheet("color: #7a8a99; padding: 30px;")
        self.column.insertWidget(0, self._empty)
        self._key: Any = None
        self._shown: list[Any] = []  # entries and notes already on screen, in order
        self._last_day: Any = None
        self.bubbles: list[Bubble] = []
        self.buttons: list[QPushButton] = []
        self._at_bottom = True  # follow new messages unless the user scrolled up
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._scrolled)
        bar.rangeChanged.connect(self._range_changed)

    def _scrolled(self, value: int) -> None:
        self._at_bottom = value >= self.verticalScrollBar().maximum() - 4

    def _range_changed(self, _low: int, high: int) -> None:
        if self._at_bottom:
            self.verticalScrollBar().setValue(high)

    def show_items(self, key: Any, items: list[Any], tz: tzinfo) -> None:
        """Show ``items`` (entries and ``(at, text)`` notes, oldest first) for chat ``key``;
        only the new tail is added when the chat is the same and its start unchanged."""
        if key != self._key or items[: len(self._shown)] != self._shown:
            self._clear()
            self._key = key
        for item in items[len(self._shown) :]:
            self._add(item, tz)
        self._shown = list(items)
        self._empty.setVisible(not self._shown)
        self._at_bottom = True  # after an action, show its answer
        self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())

    def _clear(self) -> None:
        while self.column.count() > 2:
            item = self.column.takeAt(1)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self._shown = []
        self._last_day = None
        self.bubbles = []
        self.buttons = []

    def _insert(self, widget: QWidget) -> None:
        self.column.insertWidget(self.column.count() - 1, widget)

    def _pill(self, text: str, color: str = "#8fa3b3") -> None:
        row = QHBoxLayout()
        label = QLabel(text)
        label.setStyleSheet(
            f"background: {color}; color: white; border-radius: 9px; padding: 2px 10px;"
            " font-size: 11px;"
        )
        row.addStretch(1)
        row.addWidget(label)
        row.addStretch(1)
        holder = QWidget()
        holder.setLayout(row)
        row.setContentsMargins(0, 2, 0, 2)
        self._insert(holder)

    def _add(self, item: Any, tz: tzinfo) -> None:
        at = item.at if isinstance(item, TranscriptEntry) else item[0]
        day = at.astimezone(tz).date()
        if day != self._last_day:
            self._pill(date_label(at.astimezone(tz)))
            self._last_day = day
        if not isinstance(item, TranscriptEntry):
            self._pill(item[1], "#6d8aa0")
            return
        mine = item.direction is Direction.FROM_CONTACT
        header = t("by_manager") if item.direction is Direction.FROM_MANAGER else ""
        bubble = Bubble(item, tz, mine=mine, header=header)
        bubble.setMaximumWidth(self.BUBBLE_WIDTH)
        bubble.linkClicked.connect(self.linkClicked.emit)
        self.bubbles.append(bubble)
        block = QWidget()
        block_layout = QVBoxLayout(block)
        block_layout.setContentsMargins(0, 0, 0, 0)
        block_layout.setSpacing(3)
        block_layout.addWidget(bubble)
        if item.buttons:
            grid = QGridLayout()
            grid.setSpacing(3)
            for r, row in enumerate(item.buttons):
                for c, button in enumerate(row):
                    push = QPushButton(button.text + (" ↗" if button.url else ""))
                    push.setCursor(Qt.CursorShape.PointingHandCursor)
                    push.setStyleSheet(
                        "QPushButton { background: rgba(90,120,140,0.55); color: white;"
                        " border: none; border-radius: 7px; padding: 6px 10px; font-weight: 600; }"
                        "QPushButton:hover { background: rgba(70,100,120,0.75); }"
                    )
                    value = button.callback_data or button.url or button.text
                    push.clicked.connect(lambda _=False, v=value: self.buttonPressed.emit(v))
                    push.setProperty("button_text", button.text)
                    self.buttons.append(push)
                    grid.addWidget(push, r, c)
            block_layout.addLayout(grid)
        block.setMaximumWidth(self.BUBBLE_WIDTH)
        row_layout = QHBoxLayout()
        row_layout.setContentsMargins(0, 0, 0, 0)
        if mine:
            row_layout.addStretch(1)
        row_layout.addWidget(block)
        if not mine:
            row_layout.addStretch(1)
        holder = QWidget()
        holder.setLayout(row_layout)
        self._insert(holder)

    def button_texts(self) -> list[str]:
        return [str(b.property("button_text")) for b in self.buttons]

    def press(self, text: str) -> None:
        """Press the newest inline button with this text (as a click would)."""
        for button in reversed(self.buttons):
            if button.property("button_text") == text:
                button.click()
                return
        raise LookupError(f"no button {text!r} in the chat (buttons: {self.button_texts()})")
