"""R15: managers see a contact's key tags in the chat — written into the contact's name.

Telegram shows a contact under the name saved in the manager's contact list, so
:class:`ContactLabeler` saves the contact (``contacts.addContact``) as
``"<first name> <labels>"`` — e.g. ``"Анна 📊💰"`` — and rewrites it when the tags change.
Off by default (``LabelSettings.enabled``). Writes are paced: at most one per contact per
``per_contact_interval`` and one per ``min_interval`` for the whole account; a change that
comes too soon is kept and written by :meth:`ContactLabeler.flush_due` (or the
:meth:`ContactLabeler.run` loop) when allowed — only the newest labels are written.
A FloodWait pauses all writes for the time Telegram asks.

Because Telegram then reports the contact under the saved name, names passed in may
already end with labels; known labels are stripped first so they never pile up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from telethon import TelegramClient, errors, functions, types

from engine.clock import Clock, SystemClock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelSettings:
    enabled: bool = False
    per_contact_interval: timedelta = timedelta(minutes=1)
    min_interval: timedelta = timedelta(seconds=2)  # between any two writes of the account


class LabelOutcome(StrEnum):
    DISABLED = "disabled"
    UNCHANGED = "unchanged"  # the contact already has this name
    WRITTEN = "written"
    DEFERRED = "deferred"  # kept; written by flush_due when the pace allows
    FAILED = "failed"


def _joined(labels: Sequence[str]) -> str:
    labels = [label.strip() for label in labels if label.strip()]
    if any(ch.isalnum() for label in labels for ch in label):
        return " ".join(labels)
    return "".join(labels)  # emoji read best side by side


def strip_labels(name: str, known_labels: Iterable[str]) -> str:
    """``name`` without a trailing run of known labels (and the spaces between them)."""
    known = sorted(
        {label.strip() for label in known_labels if label.strip()}, key=len, reverse=True
    )
    result = name.rstrip()
    changed = True
    while changed and result:
        changed = False
        for label in known:
            if result.endswith(label) and len(result) > len(label):
                result = result[: -len(label)].rstrip()
                changed = True
                break
    return result


def labelled_name(first_name: str, labels: Sequence[str], known_labels: Iterable[str] = ()) -> str:
    """``"Анна 📊💰"``: the first name (without old labels) and the labels; Telegram's
    64-character limit for a first name is kept by shortening the name, never the labels."""
    base = strip_labels(first_name, [*known_labels, *labels]) or first_name.strip()
    suffix = _joined(labels)
    if not suffix:
        return base
    room = 64 - len(suffix) - 1
    if len(base) > room:
        base = base[: max(room - 1, 1)] + "…"
    return f"{base} {suffix}"


@dataclass
class _Wanted:
    first_name: str
    last_name: str | None
    labels: tuple[str, ...]


class ContactLabeler:
    """Writes tag labels into contact names of one manager account."""

    def __init__(
        self,
        client: Callable[[], TelegramClient | None],
        *,
        settings: LabelSettings | None = None,
        clock: Clock | None = None,
        known_labels: Iterable[str] = (),
        resolve: Callable[[int], Awaitable[types.TypeInputPeer]] | None = None,
    ) -> None:
        """``resolve``: the contact's input peer (the connector's lookup, which loads the
        dialogs when Telethon's cache does not know the user, e.g. after a restart)."""
        self._client = client
        self._resolve = resolve
        self.settings = settings or LabelSettings()
        self._clock: Clock = clock or SystemClock()
        self._known: set[str] = {label for label in known_labels if label.strip()}
        self._written: dict[int, str] = {}
        self._written_at: dict[int, datetime] = {}
        self._last_write_at: datetime | None = None
        self._paused_until: datetime | None = None
        self._pending: dict[int, _Wanted] = {}
        self._wake = asyncio.Event()
        self.last_error: str | None = None
        self.written_count = 0

    def know(self, labels: Iterable[str]) -> None:
        """Labels that may be in names already (every tag's label): stripped before writing."""
        self._known.update(label for label in labels if label.strip())

    def pending_users(self) -> set[int]:
        """Contacts whose labels are waiting for the pace (or the connection)."""
        return set(self._pending)

    async def update(
        self, user_id: int, first_name: str, last_name: str | None, labels: Sequence[str]
    ) -> LabelOutcome:
        """Show ``labels`` in the contact's name (now, or later if the pace does not allow)."""
        if not self.settings.enabled:
            return LabelOutcome.DISABLED
        self._known.update(label.strip() for label in labels if label.strip())
        wanted = _Wanted(first_name, last_name, tuple(labels))
        name = labelled_name(first_name, wanted.labels, self._known)
        if self._written.get(user_id) == name:
            self._pending.pop(user_id, None)
            return LabelOutcome.UNCHANGED
        if self._due(user_id) > self._clock.now():
            self._pending[user_id] = wanted
            self._wake.set()
            return LabelOutcome.DEFERRED
        return await self._write(user_id, wanted)

    def next_due(self) -> datetime | None:
        """When the earliest deferred write may happen, if any."""
        return min((self._due(uid) for uid in self._pending), default=None)

    async def flush_due(self) -> int:
        """Write the deferred changes whose time has come; returns how many were written."""
        written = 0
        for user_id in sorted(self._pending, key=self._due):
            if self._due(user_id) > self._clock.now():
                continue
            wanted = self._pending.pop(user_id)
            outcome = await self._write(user_id, wanted)
            if outcome is LabelOutcome.WRITTEN:
                written += 1
        return written

    async def run(self) -> None:
        """Flush deferred writes as they come due, until cancelled."""
        while True:
            due = self.next_due()
            if due is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._clock.sleep_until(due)
            await self.flush_due()

    def _due(self, user_id: int) -> datetime:
        candidates = [self._clock.now()]
        if user_id in self._written_at:
            candidates.append(self._written_at[user_id] + self.settings.per_contact_interval)
        if self._last_write_at is not None:
            candidates.append(self._last_write_at + self.settings.min_interval)
        if self._paused_until is not None:
            candidates.append(self._paused_until)
        return max(candidates)

    async def _write(self, user_id: int, wanted: _Wanted) -> LabelOutcome:
        client = self._client()
        if client is None or not client.is_connected():
            self._pending[user_id] = wanted
            return LabelOutcome.DEFERRED
        name = labelled_name(wanted.first_name, wanted.labels, self._known)
        last = strip_labels(wanted.last_name or "", self._known)
        try:
            if self._resolve is not None:
                peer = await self._resolve(user_id)
            else:
                peer = await client.get_input_entity(types.PeerUser(user_id))
            await client(
                functions.contacts.AddContactRequest(
                    id=peer,
                    first_name=name,
                    last_name=last,
                    phone="",
                    add_phone_privacy_exception=False,
                )
            )
        except errors.FloodError as exc:
            seconds = int(getattr(exc, "seconds", 0) or 1)
            self._paused_until = self._clock.now() + timedelta(seconds=seconds)
            self._pending[user_id] = wanted
            self.last_error = f"flood wait: paused for {seconds} s"
            log.warning("contact labels paused for %s s (Telegram flood wait)", seconds)
            return LabelOutcome.DEFERRED
        except (errors.RPCError, ValueError, OSError, ConnectionError) as exc:
            self.last_error = f"contact {user_id}: {type(exc).__name__}: {exc}"
            log.warning("cannot label contact %s: %s: %s", user_id, type(exc).__name__, exc)
            return LabelOutcome.FAILED
        now = self._clock.now()
        self._written[user_id] = name
        self._written_at[user_id] = now
        self._last_write_at = now
        self.written_count += 1
        return LabelOutcome.WRITTEN
