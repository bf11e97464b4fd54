"""A manager account's durable state in the project database: its Telegram update state
(catch-up after a restart) and "needs a new login" when Telegram ended its session."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from connectors.telegram_user import UpdateState
from db.column_types import utcnow
from db.models import (
    Channel,
    Contact,
    HistoryEvent,
    Notification,
    NotificationKind,
    OutboxMessage,
    ProcessedUpdate,
)
from engine.events import ManagerMessage

if TYPE_CHECKING:
    from engine.project_engine import ProjectEngine

log = logging.getLogger(__name__)


class ProjectUpdateStateStore:
    """``channels.update_state`` of one manager account (an ``UpdateStateStore``)."""

    def __init__(self, engine: ProjectEngine, channel_id: int) -> None:
        self.engine = engine
        self.channel_id = channel_id

    async def load(self) -> UpdateState | None:
        async with self.engine.db.sessions() as session:
            data = await session.scalar(
                select(Channel.update_state).where(Channel.id == self.channel_id)
            )
        return UpdateState.from_dict(data)

    async def save(self, state: UpdateState) -> None:
        async with self.engine.transaction() as session:
            await session.execute(
                update(Channel)
                .where(Channel.id == self.channel_id)
                .values(update_state=state.as_dict())
            )


class ProjectOwnSends:
    """Whether the engine sent a message through this account (an ``OwnSendLookup``):
    asked only for outgoing messages replayed by a catch-up."""

    def __init__(self, engine: ProjectEngine, channel_id: int) -> None:
        self.engine = engine
        self.channel_id = channel_id

    async def __call__(self, chat_id: int, message_id: int) -> bool:
        async with self.engine.db.sessions() as session:
            found = await session.scalar(
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.channel_id == self.channel_id,
                    OutboxMessage.telegram_message_id == message_id,
                )
                .limit(1)
            )
        return found is not None


class ProjectStaleMessages:
    """Records a manager message too old to fire funnels (a ``StaleCallback``): marked as
    handled (the engine's dedup row, so a replay is not recorded twice), a
    ``manager.message.skipped`` history entry if the contact is known, and — when the text
    matches a manager-phrase trigger — a notification so staff can start it by hand."""

    def __init__(self, engine: ProjectEngine, channel_id: int) -> None:
        self.engine = engine
        self.channel_id = channel_id

    def matching_funnels(self, text: str) -> list[str]:
        from graph.nodes.triggers import ManagerPhraseProps

        name = self.engine.channels[self.channel_id].name
        found: list[str] = []
        for trigger in self.engine.index.triggers(ManagerPhraseProps):
            props = trigger.props
            if not isinstance(props, ManagerPhraseProps) or props.account not in (None, "", name):
                continue
            matched = trigger.matcher is not None and trigger.matcher.matches(text)
            if matched and trigger.funnel.name not in found:
                found.append(trigger.funnel.name)
        return found

    async def __call__(self, event: ManagerMessage, age: timedelta) -> None:
        from engine.project_engine import dedup_number

        funnels = self.matching_funnels(event.text)
        hours = max(1, round(age.total_seconds() / 3600))
        channel = self.engine.channels[self.channel_id]
        async with self.engine.transaction() as session:
            exists = await session.scalar(
                select(ProcessedUpdate.id).where(
                    ProcessedUpdate.channel_id == self.channel_id,
                    ProcessedUpdate.update_id == dedup_number(event),
                )
            )
            if exists is not None:  # handled (or skipped) before: a replay
                return
            session.add(ProcessedUpdate(channel_id=self.channel_id, update_id=dedup_number(event)))
            contact_id = await session.scalar(
                select(Contact.id).where(Contact.telegram_user_id == event.contact.user_id)
            )
            details = {
                "text": event.text[:500],
                "sent_at": event.occurred_at.isoformat(),
                "age_hours": round(age.total_seconds() / 3600, 1),
                "funnels": funnels,
            }
            if contact_id is not None:
                session.add(
                    HistoryEvent(
                        contact_id=contact_id,
                        at=self.engine.clock.now(),
                        kind="manager.message.skipped",
                        channel_id=self.channel_id,
                        actor=f"manager:{channel.name}",
                        details=details,
                    )
                )
            if funnels:
                who = event.contact.first_name or str(event.contact.user_id)
                session.add(
                    Notification(
                        kind=NotificationKind.OTHER,
                        contact_id=contact_id,
                        channel_id=self.channel_id,
                        text=(
                            f"Фраза «{event.text[:200]}» ({channel.name} → {who}) пропущена: "
                            f"отправлена {hours} ч назад, пока движок был остановлен. "
                            f"Воронки не запущены: {', '.join(funnels)}. Запустите вручную, "
                            "если нужно."
                        ),
                        details={"stale_manager_phrase": True, **details},
                    )
                )


async def mark_login_required(engine: ProjectEngine, channel_id: int, reason: str) -> bool:
    """Flag the account as needing a new login and notify the admins, once (True if it
    was not flagged yet). ``manager login`` clears the flag."""
    async with engine.transaction() as session:
        channel = await session.get(Channel, channel_id)
        if channel is None or channel.login_required_at is not None:
            return False
        channel.login_required_at = utcnow()
        channel.login_required_reason = reason
        session.add(
            Notification(
                kind=NotificationKind.OTHER,
                channel_id=channel_id,
                text=(
                    f"Telegram завершил сессию менеджерского аккаунта «{channel.name}»: "
                    "войдите заново (main.py manager login). Сообщения этого аккаунта не "
                    "запускают воронки, пока он не подключён."
                ),
                details={"manager_login_required": True, "reason": reason},
            )
        )
    log.error(
        "manager account needs a new login: %s",
        reason,
        extra={"project": engine.project, "channel": channel.name},
    )
    return True


async def remember_telegram_id(engine: ProjectEngine, channel_id: int, user_id: int) -> None:
    """Store the account's Telegram user id if it is not stored yet (business routing
    finds the account by it)."""
    async with engine.transaction() as session:
        await session.execute(
            update(Channel)
            .where(Channel.id == channel_id, Channel.telegram_id.is_(None))
            .values(telegram_id=user_id)
        )


__all__ = [
    "ProjectOwnSends",
    "ProjectStaleMessages",
    "ProjectUpdateStateStore",
    "mark_login_required",
    "remember_telegram_id",
]
