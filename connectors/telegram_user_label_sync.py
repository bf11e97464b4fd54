"""R15 in the daemon: tag changes → labels in the contact names of a manager account.

The engine records every tag change as a ``contact_history`` row (``tag.added`` /
``tag.removed``). :class:`LabelSync` polls those rows past the account's high-water mark
(``channels.labels_history_id``), recomputes the changed contacts' labels from their
*current* tags (so order and duplicates of changes do not matter) and hands them to the
account's :class:`~connectors.telegram_user_labels.ContactLabeler`, which paces the
writes and honours FloodWait. The mark is persisted only past rows whose label is done
(written, unchanged, or failed for good); a write deferred by the pace holds it back, so
a restart redoes nothing that was written and loses nothing that was not.

Only contacts this account has seen (a ``contact_channels`` row) are labelled: the others
are not in the manager's Telegram dialogs. Labels are off by default per project
(``project_settings['manager_labels'] = {"enabled": true}``; ``main.py manager labels``);
while off, the mark does not move, so turning them on later labels the tagged contacts.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from connectors.telegram_user_labels import ContactLabeler, LabelOutcome
from db.models import Channel, Contact, ContactChannel, ContactTag, HistoryEvent, Tag
from db.models.settings import ProjectSetting

if TYPE_CHECKING:
    from engine.project_engine import ProjectEngine

log = logging.getLogger(__name__)

LABELS_SETTING = "manager_labels"
TAG_KINDS = ("tag.added", "tag.removed")


async def labels_enabled(session: AsyncSession) -> bool:
    value = await session.scalar(
        select(ProjectSetting.value).where(ProjectSetting.key == LABELS_SETTING)
    )
    return bool(isinstance(value, dict) and value.get("enabled"))


async def set_labels_enabled(session: AsyncSession, enabled: bool) -> None:
    """Turn R15 labels on/off for the project (inside the caller's transaction)."""
    row = await session.get(ProjectSetting, LABELS_SETTING)
    if row is None:
        session.add(ProjectSetting(key=LABELS_SETTING, value={"enabled": enabled}))
    else:
        row.value = {**(row.value or {}), "enabled": enabled}


class LabelSync:
    """Keeps one manager account's contact names in step with the contacts' tags."""

    def __init__(
        self,
        engine: ProjectEngine,
        channel_id: int,
        labeler: ContactLabeler,
        *,
        poll: float = 2.0,
        batch: int = 200,
    ) -> None:
        self.engine = engine
        self.channel_id = channel_id
        self.labeler = labeler
        self.poll = poll
        self.batch = batch
        self.enabled = False
        self.last_error: str | None = None
        self._loaded = False
        self._saved: int = 0  # persisted high-water mark
        self._seen: int = 0  # history rows read up to here
        self._pending_rows: dict[int, int] = {}  # telegram user id → history id

    async def run(self) -> None:
        """Sync until cancelled; errors are logged and shown in ``health()``."""
        while True:
            try:
                await self.sync_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("contact labels: sync failed", extra={"project": self.engine.project})
            await asyncio.sleep(self._wait())

    def _wait(self) -> float:
        due = self.labeler.next_due()
        if due is None:
            return self.poll
        seconds = (due - self.engine.clock.now()).total_seconds()
        return min(self.poll, max(seconds, 0.01))

    async def sync_once(self) -> int:
        """One round: read new tag changes, update labels; returns the labels written."""
        before = self.labeler.written_count
        async with self.engine.db.sessions() as session:
            if not self._loaded:
                mark = await session.scalar(
                    select(Channel.labels_history_id).where(Channel.id == self.channel_id)
                )
                self._saved = self._seen = int(mark or 0)
                self._loaded = True
            self.enabled = await labels_enabled(session)
            if not self.enabled:
                return 0
            known = await session.scalars(
                select(Tag.manager_label).where(Tag.manager_label.is_not(None))
            )
            self.labeler.know(label for label in known if label)
            last_row = await session.scalar(
                select(func.max(HistoryEvent.id)).where(
                    HistoryEvent.id > self._seen, HistoryEvent.kind.in_(TAG_KINDS)
                )
            )
            changes: list[Any] = []
            if last_row is not None:
                changes = list(
                    (
                        await session.execute(
                            select(Contact.telegram_user_id, func.max(HistoryEvent.id))
                            .join(Contact, Contact.id == HistoryEvent.contact_id)
                            .join(
                                ContactChannel,
                                (ContactChannel.contact_id == HistoryEvent.contact_id)
                                & (ContactChannel.channel_id == self.channel_id),
                            )
                            .where(
                                HistoryEvent.id > self._seen,
                                HistoryEvent.id <= last_row,
                                HistoryEvent.kind.in_(TAG_KINDS),
                            )
                            .group_by(Contact.telegram_user_id)
                            .order_by(func.max(HistoryEvent.id))
                            .limit(self.batch)
                        )
                    ).all()
                )
            wanted = {user_id: row_id for user_id, row_id in changes}
            names = await self._names_and_labels(session, list(wanted))
        await self.labeler.flush_due()
        for user_id, row_id in wanted.items():
            first, last, labels = names[user_id]
            outcome = await self.labeler.update(user_id, first, last, labels)
            if outcome is LabelOutcome.DEFERRED:
                self._pending_rows[user_id] = row_id
            else:
                self._pending_rows.pop(user_id, None)
        if len(changes) >= self.batch:
            self._seen = max(row_id for _, row_id in changes)
        elif last_row is not None:
            self._seen = max(self._seen, int(last_row))
        still = self.labeler.pending_users()
        self._pending_rows = {u: r for u, r in self._pending_rows.items() if u in still}
        mark = min(self._pending_rows.values(), default=self._seen + 1) - 1
        if mark > self._saved:
            async with self.engine.transaction() as session:
                await session.execute(
                    update(Channel)
                    .where(Channel.id == self.channel_id)
                    .values(labels_history_id=mark)
                )
            self._saved = mark
        self.last_error = self.labeler.last_error
        return self.labeler.written_count - before

    async def _names_and_labels(
        self, session: AsyncSession, user_ids: list[int]
    ) -> dict[int, tuple[str, str | None, list[str]]]:
        result: dict[int, tuple[str, str | None, list[str]]] = {}
        if not user_ids:
            return result
        contacts = (
            await session.execute(
                select(
                    Contact.id, Contact.telegram_user_id, Contact.first_name, Contact.last_name
                ).where(Contact.telegram_user_id.in_(user_ids))
            )
        ).all()
        by_id = {cid: uid for cid, uid, _, _ in contacts}
        labels: dict[int, list[str]] = {uid: [] for uid in user_ids}
        rows = await session.execute(
            select(ContactTag.contact_id, Tag.manager_label)
            .join(Tag, Tag.id == ContactTag.tag_id)
            .where(ContactTag.contact_id.in_(list(by_id)), Tag.manager_label.is_not(None))
            .order_by(ContactTag.contact_id, Tag.id)
        )
        for contact_id, label in rows:
            if label and label.strip():
                labels[by_id[contact_id]].append(label.strip())
        for _, uid, first, last in contacts:
            result[uid] = (first or "", last, labels[uid])
        return result

    def health(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "written": self.labeler.written_count,
            "pending": len(self.labeler.pending_users()),
            "synced_history_id": self._saved,
            "last_error": self.last_error,
        }


__all__ = ["LABELS_SETTING", "LabelSync", "labels_enabled", "set_labels_enabled"]
