"""A throw-away engine for the desktop chat simulator (issue 8, item 6).

:class:`Sandbox` wraps :class:`engine.simulation.Harness`: it builds a fresh SQLite project
in a temporary directory from plain data (:class:`SandboxSpec`: channels, tags, products
and funnel *documents*, e.g. the draft open in the editor plus the project's other live
robots), runs it on a :class:`VirtualClock`, and acts as one test contact and the
managers. Nothing here knows the real project's database: the desktop fills the spec
through its backend (embedded or remote), so the sandbox never touches real contacts.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from connectors.simulator import SimulatedConnector, TranscriptEntry
from db.models import (
    Channel,
    ChannelKind,
    Contact,
    ContactTag,
    Funnel,
    FunnelVersion,
    Product,
    Run,
    RunStatus,
    Tag,
    Variable,
)
from db.models.channels import BotRole
from db.registry import DEFAULT_TIMEZONE
from db.workspace import Workspace
from engine import events as ev
from engine.clock import VirtualClock
from engine.simulation import Harness
from engine.stats import funnel_node_counts
from graph.document import FunnelDocument
from graph.loading import dump_funnel

SANDBOX_CONTACT = ev.ContactIdentity(
    user_id=700_000_001, first_name="Тест", last_name="Песочница", username="sandbox_tester"
)
"""The contact staff play; a Telegram-sized id that no real account of the sandbox has."""

DEFAULT_MANAGER = "Менеджер (песочница)"


@dataclass(frozen=True)
class SandboxChannel:
    """A bot (``role`` set) or a manager account of the sandbox."""

    kind: str  # "bot" | "manager_account"
    name: str
    role: str | None = None
    username: str | None = None


@dataclass
class SandboxSpec:
    """What the sandbox is made of. ``focus`` names the funnel whose badges are shown."""

    focus: FunnelDocument
    others: list[FunnelDocument] = field(default_factory=list)
    channels: list[SandboxChannel] = field(default_factory=list)
    tags: set[str] = field(default_factory=set)
    products: set[str] = field(default_factory=set)
    timezone: str = DEFAULT_TIMEZONE

    @classmethod
    def from_catalog(
        cls,
        focus: FunnelDocument,
        catalog: Any,
        *,
        others: Iterable[FunnelDocument] = (),
        bots: Iterable[dict[str, Any]] = (),
        timezone: str = DEFAULT_TIMEZONE,
    ) -> SandboxSpec:
        """A spec from a :class:`graph.project_catalog.ProjectCatalog` (and, if known, the
        project's bots as ``list_bots`` returns them, for real usernames in links)."""
        usernames = {b.get("name"): b.get("username") for b in bots}
        channels = [
            SandboxChannel("bot", name, role, usernames.get(name)) for role, name in catalog.bots
        ]
        channels += [
            SandboxChannel("manager_account", name) for name in sorted(catalog.manager_accounts)
        ]
        return cls(
            focus=focus,
            others=[o for o in others if o.name != focus.name],
            channels=channels,
            tags=set(catalog.tags),
            products=set(catalog.products),
            timezone=timezone,
        )

    def complete_channels(self) -> list[SandboxChannel]:
        """The channels plus a bot for each role the robots use but the project lacks,
        and a manager account if there is none (so every robot can run)."""
        channels = list(self.channels)
        roles = {c.role for c in channels if c.kind == "bot"}
        for role in sorted(_used_roles([self.focus, *self.others]) - roles):
            known = role if role in {r.value for r in BotRole} else "other"
            channels.append(SandboxChannel("bot", f"Бот «{role}» (песочница)", known))
            roles.add(role)
        if not any(c.kind == "manager_account" for c in channels):
            channels.append(SandboxChannel("manager_account", DEFAULT_MANAGER))
        return channels


def _used_roles(docs: Iterable[FunnelDocument]) -> set[str]:
    roles: set[str] = set()
    for doc in docs:
        for node in doc.nodes:
            role = node.props.get("bot_role") if isinstance(node.props, dict) else None
            if isinstance(role, str) and role:
                roles.add(role)
    return roles


@dataclass(frozen=True)
class ChatInfo:
    """One chat the test contact can open: with a bot or with a manager account."""

    key: str  # the simulated channel's key
    name: str  # as staff know it ("Открытый бот", "Менеджер")
    username: str  # the simulated @username / account name
    is_bot: bool
    role: str | None


@dataclass(frozen=True)
class ContactState:
    """The test contact in the sandbox: where its runs stand, its tags and variables."""

    focus_nodes: list[str]  # node ids of the focus funnel it is on now (active/waiting)
    runs: list[tuple[str, str, str]]  # (funnel name, node title, status) of every run
    tags: list[str]
    variables: dict[str, str]


class Sandbox:
    """A running sandbox; make it with :meth:`create`, end it with :meth:`close`."""

    def __init__(
        self,
        harness: Harness,
        workspace: Workspace,
        directory: str,
        focus_funnel_id: int,
        spec: SandboxSpec,
    ) -> None:
        self.harness = harness
        self._workspace = workspace
        self._directory = directory
        self.focus_funnel_id = focus_funnel_id
        self.spec = spec
        self.contact = SANDBOX_CONTACT
        harness.world.add_contact(self.contact)

    @classmethod
    async def create(cls, spec: SandboxSpec, start: datetime | None = None) -> Sandbox:
        """Build the project in a new temporary directory and start its engine at
        ``start`` (default: now)."""
        directory = tempfile.mkdtemp(prefix="voronka-sandbox-")
        workspace: Workspace | None = None
        try:
            workspace = await Workspace.open(directory)
            project = await workspace.create_project("Песочница", timezone=spec.timezone)
            db = await workspace.open_project_db(project)
            try:
                async with db.sessions() as session, session.begin():
                    for i, c in enumerate(spec.complete_channels(), start=1):
                        is_bot = c.kind == "bot"
                        session.add(
                            Channel(
                                kind=ChannelKind.BOT if is_bot else ChannelKind.MANAGER_ACCOUNT,
                                name=c.name,
                                role=BotRole(c.role) if is_bot and c.role else None,
                                username=(c.username or f"sandbox{i}_bot") if is_bot else None,
                            )
                        )
                    session.add_all(Tag(name=t) for t in sorted(spec.tags))
                    session.add_all(Product(name=p) for p in sorted(spec.products))
                    focus_id = 0
                    for doc in [spec.focus, *spec.others]:
                        text = dump_funnel(doc)
                        funnel = Funnel(name=doc.name, folder=doc.folder, draft_json=text)
                        session.add(funnel)
                        await session.flush()
                        session.add(
                            FunnelVersion(funnel_id=funnel.id, version=1, document_json=text)
                        )
                        if doc is spec.focus:
                            focus_id = funnel.id
            finally:
                await db.dispose()
            when = (start or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
            harness = await Harness.open(workspace, project, VirtualClock(when))
        except BaseException:
            if workspace is not None:
                await workspace.close()
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return cls(harness, workspace, directory, focus_id, spec)

    async def close(self) -> None:
        try:
            await self.harness.close()
            await self._workspace.close()
        finally:
            self.discard_files()

    def discard_files(self) -> None:
        """Remove the sandbox's directory (also while its engine is open: on exit)."""
        shutil.rmtree(self._directory, ignore_errors=True)

    # --- what there is ---------------------------------------------------------------

    def now(self) -> datetime:
        return self.harness.clock.now()

    def chats(self) -> list[ChatInfo]:
        """Bots first, then manager accounts, in the project's order."""
        out = []
        for channel in self.harness.engine.channels.values():
            out.append(
                ChatInfo(
                    key=channel.ref.key,
                    name=channel.name,
                    username=channel.ref.name,
                    is_bot=channel.is_bot,
                    role=channel.role,
                )
            )
        return sorted(out, key=lambda c: not c.is_bot)

    def chat_for_role(self, role: str) -> ChatInfo | None:
        return next((c for c in self.chats() if c.is_bot and c.role == role), None)

    def _conn(self, chat: str) -> SimulatedConnector:
        return self.harness.world.connector(chat)

    def transcript(self, chat: str) -> list[TranscriptEntry]:
        """The chat between the test contact and ``chat`` (a key or username)."""
        return self.harness.world.transcript(self._conn(chat).channel, self.contact)

    def reply_keyboard(self, chat: str) -> list[list[str]]:
        """The reply keyboard the contact sees now in ``chat`` (rows of texts)."""
        for entry in reversed(self.transcript(chat)):
            if entry.remove_keyboard:
                return []
            if entry.reply_keyboard is not None:
                return [list(row) for row in entry.reply_keyboard]
        return []

    # --- acting ----------------------------------------------------------------------

    async def contact_says(self, chat: str, text: str) -> None:
        await self.harness.world.contact_says(self._conn(chat).channel, self.contact, text)
        await self.harness.settle()

    async def contact_starts(self, chat: str, payload: str | None = None) -> None:
        await self.harness.world.contact_starts(self._conn(chat).channel, self.contact, payload)
        await self.harness.settle()

    async def press(self, chat: str, button: str) -> None:
        """Press an inline button (by callback data or text) or a reply-keyboard button."""
        await self.harness.world.press_button(self._conn(chat).channel, self.contact, button)
        await self.harness.settle()

    async def open_link(self, url: str) -> str:
        """Follow a t.me bot link as the contact; the key of the bot it opened."""
        event = await self.harness.world.opens_link(self.contact, url)
        await self.harness.settle()
        return event.channel.key

    async def manager_says(self, account: str, text: str) -> None:
        await self.harness.world.manager_says(self._conn(account).channel, self.contact, text)
        await self.harness.settle()

    async def advance(self, delta: timedelta) -> None:
        """Move the virtual clock; every timer due meanwhile fires at its own moment."""
        await self.harness.advance(delta)

    # --- reading the state ---------------------------------------------------------------

    async def node_counts(self) -> dict[str, tuple[int, int, int]]:
        """The focus funnel's badge figures (now, entered, passed) in the sandbox."""
        async with self.harness.engine.db.sessions() as session:
            return await funnel_node_counts(session, self.focus_funnel_id, now=self.now())

    async def contact_state(self) -> ContactState:
        engine = self.harness.engine
        async with engine.db.sessions() as session:
            contact = await session.scalar(
                select(Contact).where(Contact.telegram_user_id == self.contact.user_id)
            )
            if contact is None:
                return ContactState([], [], [], {})
            tags = sorted(
                (
                    await session.scalars(
                        select(Tag.name)
                        .join(ContactTag, ContactTag.tag_id == Tag.id)
                        .where(ContactTag.contact_id == contact.id)
                    )
                ).all()
            )
            variables = {
                v.name: str(v.value)
                for v in (
                    await session.scalars(select(Variable).where(Variable.contact_id == contact.id))
                ).all()
            }
            rows = (
                await session.execute(
                    select(Run, FunnelVersion.funnel_id)
                    .join(FunnelVersion, FunnelVersion.id == Run.funnel_version_id)
                    .where(Run.contact_id == contact.id)
                    .order_by(Run.id)
                )
            ).all()
            focus_nodes: list[str] = []
            runs: list[tuple[str, str, str]] = []
            for run, funnel_id in rows:
                compiled = await engine.compiled(session, run.funnel_version_id)
                live = run.status in (RunStatus.ACTIVE, RunStatus.WAITING)
                if funnel_id == self.focus_funnel_id and live and run.node_id:
                    focus_nodes.append(run.node_id)
                title = compiled.title(run.node_id) if run.node_id else ""
                runs.append((compiled.name, title, run.status.value))
        return ContactState(focus_nodes, runs, tags, variables)
