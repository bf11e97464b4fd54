"""Interface strings in Russian (default) and English: ``tr(key)`` and a language switch."""

from __future__ import annotations

from collections.abc import Callable

_language = "ru"
_listeners: list[Callable[[str], None]] = []

STRINGS: dict[str, tuple[str, str]] = {
    # categories
    "category.trigger": ("Триггеры", "Triggers"),
    "category.message": ("Сообщения", "Messages"),
    "category.flow": ("Логика", "Flow"),
    "category.data": ("Данные", "Data"),
    "category.action": ("Действия", "Actions"),
    "category.unknown": ("Неизвестные", "Unknown"),
    # editor
    "palette.title": ("Узлы", "Nodes"),
    "palette.search": ("Поиск узла…", "Find a node…"),
    "palette.hint": (
        "Двойной щелчок — добавить в центр, или перетащите на холст",
        "Double-click to add at the centre, or drag onto the canvas",
    ),
    "problems.title": ("Проблемы", "Problems"),
    "problems.none": ("Проблем нет", "No problems"),
    "problems.count": ("Проблемы: {n}", "Problems: {n}"),
    "properties.title": ("Свойства", "Properties"),
    "properties.empty": (
        "Выберите узел, чтобы изменить его свойства",
        "Select a node to edit its properties",
    ),
    "properties.many": ("Выбрано узлов: {n}", "{n} nodes selected"),
    "properties.node_title": ("Название на схеме", "Title on the canvas"),
    "properties.node_title_placeholder": ("по умолчанию: {title}", "default: {title}"),
    "properties.unknown_type": (
        "Неизвестный тип узла «{type}». Свойства сохраняются как есть.",
        "Unknown node type “{type}”. Its properties are kept as they are.",
    ),
    "properties.json": ("Свойства (JSON)", "Properties (JSON)"),
    "properties.json_invalid": ("Это не JSON-объект", "Not a JSON object"),
    "properties.docs": ("Справка", "Help"),
    "action.undo": ("Отменить", "Undo"),
    "action.redo": ("Повторить", "Redo"),
    "action.copy": ("Копировать", "Copy"),
    "action.cut": ("Вырезать", "Cut"),
    "action.paste": ("Вставить", "Paste"),
    "action.delete": ("Удалить", "Delete"),
    "action.select_all": ("Выделить всё", "Select all"),
    "action.layout": ("Расставить", "Auto layout"),
    "action.fit": ("Показать всё", "Fit to view"),
    "undo.add_node": ("Добавить узел «{title}»", "Add node “{title}”"),
    "undo.edit": ("Изменить «{title}»", "Edit “{title}”"),
    "undo.paste": ("Вставить узлы", "Paste nodes"),
    "undo.layout": ("Авторасстановка", "Auto layout"),
    "undo.delete": ("Удалить узлы", "Delete nodes"),
    "badge.tooltip": (
        "Сейчас на шаге: {now}\nВошли: {entered}\nПрошли дальше: {passed}",
        "On this step now: {now}\nEntered: {entered}\nPassed: {passed}",
    ),
    # property editors
    "editor.add": ("Добавить", "Add"),
    "editor.remove": ("Удалить", "Remove"),
    "editor.up": ("Выше", "Up"),
    "editor.down": ("Ниже", "Down"),
    "editor.not_set": ("не задано", "not set"),
    "editor.phrase_placeholder": ("Новая фраза — Enter", "New phrase — Enter"),
    "editor.tag_placeholder": ("Тег — Enter (можно новый)", "Tag — Enter (new ones allowed)"),
    "editor.preview": ("Предпросмотр", "Preview"),
    "editor.days": ("дн.", "d"),
    "editor.hours": ("ч", "h"),
    "editor.minutes": ("мин", "min"),
    "editor.button_id": ("id", "id"),
    "editor.button_text": ("Текст", "Text"),
    "editor.button_kind": ("Вид", "Kind"),
    "editor.button_url": ("Ссылка", "URL"),
    "editor.media_kind": ("Вид", "Kind"),
    "editor.media_source": ("Файл, URL или file_id", "File, URL or file_id"),
    "editor.branch_key": ("Ключ", "Key"),
    "editor.branch_weight": ("Вес", "Weight"),
    "editor.tester": ("Проверка фразы", "Phrase tester"),
    "editor.tester_placeholder": (
        "Введите текст, как его написал бы контакт",
        "Type a text as the contact would",
    ),
    "editor.matched": ("Совпало", "Matched"),
    "editor.not_matched": ("Не совпало", "No match"),
    "editor.stop_phrases": ("Стоп-фразы", "Stop phrases"),
    "editor.format_bold": ("Ж", "B"),
    "editor.format_italic": ("К", "I"),
    "editor.format_underline": ("Ч", "U"),
    "editor.format_link": ("Ссылка", "Link"),
    "editor.format_code": ("Код", "Code"),
    # fields
    "field.phrases": ("Фразы", "Phrases"),
    "field.match": ("Сравнение фраз", "Phrase matching"),
    "field.account": ("Аккаунт менеджера", "Manager account"),
    "field.source": ("Куда написал", "Written to"),
    "field.bot_role": ("Бот (роль)", "Bot (role)"),
    "field.payload": ("Метка диплинка", "Deep-link payload"),
    "field.payload_match": ("Сравнение метки", "Payload match"),
    "field.product": ("Продукт", "Product"),
    "field.tag": ("Тег", "Tag"),
    "field.tags": ("Теги", "Tags"),
    "field.channel": ("Канал отправки", "Sent through"),
    "field.text": ("Текст", "Text"),
    "field.media": ("Медиа", "Media"),
    "field.buttons": ("Инлайн-кнопки", "Inline buttons"),
    "field.reply_buttons": ("Кнопки клавиатуры", "Reply keyboard"),
    "field.protect_content": ("Запретить пересылку", "Protect content"),
    "field.disable_link_preview": ("Без предпросмотра ссылок", "No link preview"),
    "field.mode": ("Режим", "Mode"),
    "field.duration": ("Длительность", "Duration"),
    "field.time": ("Время", "Time"),
    "field.allowed_hours_from": ("Разрешённые часы: с", "Allowed hours: from"),
    "field.allowed_hours_to": ("Разрешённые часы: до", "Allowed hours: to"),
    "field.weekdays": ("Дни недели", "Weekdays"),
    "field.timeout": ("Ждать не дольше", "Timeout"),
    "field.rules": ("Правила", "Rules"),
    "field.combine": ("Выполняться должны", "Combine"),
    "field.branches": ("Ветки", "Branches"),
    "field.sticky": ("Та же ветка при повторе", "Sticky branch"),
    "field.funnel": ("Воронка", "Funnel"),
    "field.node": ("Узел (UUID)", "Node (UUID)"),
    "field.name": ("Имя переменной", "Variable name"),
    "field.value": ("Значение", "Value"),
    "field.validate": ("Проверка значения", "Validate as"),
    "field.pattern": ("Шаблон (regex)", "Pattern (regex)"),
    "field.retention": ("Хранение", "Retention"),
    "field.amount": ("Сумма", "Amount"),
    "field.currency": ("Валюта", "Currency"),
    "field.scope": ("Где остановить", "Scope"),
    "field.include_this_funnel": ("Включая эту воронку", "Include this funnel"),
    "field.except_funnels": ("Кроме воронок", "Except funnels"),
    "field.expires_hours": ("Срок действия, ч", "Expires in, h"),
    "field.variable": ("Переменная для ссылки", "Variable for the link"),
    "field.target": ("Куда ведёт ссылка", "Link leads to"),
    "field.chat_id": ("ID закрытой группы/канала", "Private group/channel id"),
    "field.kind": ("Вид", "Kind"),
    "field.to_telegram": ("Также в Telegram", "Also to Telegram"),
    "field.threshold": ("Порог похожести", "Similarity threshold"),
    "field.word_forms": ("Учитывать формы слов", "Word forms"),
    "field.negation_aware": ("Учитывать отрицание", "Negation aware"),
    "field.stop_phrases": ("Стоп-фразы", "Stop phrases"),
    # ports
    "port.in": ("вход", "in"),
    "port.next": ("далее", "next"),
    "port.matched": ("совпал ответ", "matched"),
    "port.other": ("другой ответ", "other"),
    "port.timeout": ("время вышло", "timeout"),
    "port.yes": ("да", "yes"),
    "port.no": ("нет", "no"),
    "port.invalid": ("неверно", "invalid"),
    "port.arrived": ("перешёл", "arrived"),
    "port.branch": ("ветка {key}", "branch {key}"),
    # summaries
    "summary.more": ("и ещё {n}", "+{n} more"),
    "summary.until": ("до {time}", "until {time}"),
    "summary.any_start": ("любой /start", "any /start"),
    "summary.media": ("медиа: {n}", "media: {n}"),
    "summary.buttons": ("кнопок: {n}", "buttons: {n}"),
    "summary.empty_message": ("(пустое сообщение)", "(empty message)"),
    "summary.rules": ("правил: {n}", "rules: {n}"),
    "summary.scope_bot": ("в боте «{role}»", "in bot “{role}”"),
    "summary.scope_all": ("во всех воронках", "in all funnels"),
    "summary.any_reply": ("любой ответ", "any reply"),
    "summary.wait": ("ждать {d}", "wait {d}"),
}

CHOICES: dict[str, tuple[str, str]] = {
    # Literal / enum values shown in combo boxes (value → label)
    "contact_bot": ("Бот контакта", "Contact's bot"),
    "bot": ("Бот с ролью", "Bot with role"),
    "manager_account": ("Аккаунт менеджера", "Manager account"),
    "any": ("Куда угодно", "Anywhere"),
    "exact": ("Точно", "Exact"),
    "prefix": ("Начинается с", "Starts with"),
    "contains": ("Содержит", "Contains"),
    "starts_with": ("Начинается с", "Starts with"),
    "fuzzy": ("Похоже (опечатки)", "Fuzzy"),
    "synonyms": ("Синонимы", "Synonyms"),
    "regex": ("Регулярное выражение", "Regular expression"),
    "duration": ("Подождать", "Wait for"),
    "until_time": ("До времени", "Until time"),
    "next_weekday": ("До дня недели", "Until weekday"),
    "all": ("Все", "All"),
    "callback": ("Кнопка", "Callback"),
    "chat": ("Закрытая группа/канал", "Private group/channel"),
    "url": ("Ссылка", "URL"),
    "none": ("Без проверки", "None"),
    "date": ("Дата", "Date"),
    "number": ("Число", "Number"),
    "email": ("E-mail", "E-mail"),
    "phone": ("Телефон", "Phone"),
    "keep": ("Хранить всегда", "Keep"),
    "clear_on_unsubscribe": ("Стереть при отписке", "Clear on unsubscribe"),
    "info": ("Информация", "Info"),
    "lost_receipt": ("Чек потерян", "Lost receipt"),
    "already_fired": ("Уже срабатывал", "Already fired"),
    "stuck": ("Контакт застрял", "Stuck"),
    "error": ("Ошибка", "Error"),
    "photo": ("Фото", "Photo"),
    "video": ("Видео", "Video"),
    "document": ("Документ", "Document"),
    "voice": ("Голосовое", "Voice"),
    "audio": ("Аудио", "Audio"),
    "animation": ("GIF", "Animation"),
}

WEEKDAYS: tuple[tuple[str, str], ...] = (
    ("пн", "Mon"),
    ("вт", "Tue"),
    ("ср", "Wed"),
    ("чт", "Thu"),
    ("пт", "Fri"),
    ("сб", "Sat"),
    ("вс", "Sun"),
)


def language() -> str:
    """The current interface language: "ru" or "en"."""
    return _language


def set_language(lang: str) -> None:
    """Switch the interface language ("ru" or "en"); listeners are told."""
    global _language
    if lang not in ("ru", "en"):
        raise ValueError(f"unsupported language {lang!r}")
    if lang != _language:
        _language = lang
        for listener in list(_listeners):
            listener(lang)


def on_language_changed(listener: Callable[[str], None]) -> None:
    _listeners.append(listener)


def _pick(pair: tuple[str, str]) -> str:
    return pair[1] if _language == "en" else pair[0]


def tr(key: str, **kwargs: object) -> str:
    """The string ``key`` in the current language, formatted with ``kwargs``."""
    pair = STRINGS.get(key)
    if pair is None:
        return key
    text = _pick(pair)
    return text.format(**kwargs) if kwargs else text


def register(prefix: str, strings: dict[str, tuple[str, str]]) -> Callable[..., str]:
    """Add a module's (ru, en) strings as ``prefix.key`` and return its ``t(key, **kw)``,
    so every window keeps its strings beside its code under the one language switch."""
    STRINGS.update({f"{prefix}.{key}": pair for key, pair in strings.items()})

    def translate(key: str, **kwargs: object) -> str:
        return tr(f"{prefix}.{key}", **kwargs)

    return translate


def has(key: str) -> bool:
    return key in STRINGS


def choice_label(value: str) -> str:
    """A human label for a Literal/enum value (the value itself when unknown)."""
    pair = CHOICES.get(value)
    return _pick(pair) if pair else value


def weekday_label(day: int) -> str:
    return _pick(WEEKDAYS[day])
