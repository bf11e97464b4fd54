"""The models on both backends: constraints, types and the guarantees the engine relies on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError, StatementError

from db.models import (
    BotRole,
    Channel,
    ChannelKind,
    Contact,
    ContactChannel,
    ContactTag,
    Funnel,
    FunnelVersion,
    HistoryEvent,
    OutboxMessage,
    OutboxStatus,
    PersonalLink,
    ProcessedUpdate,
    Product,
    Purchase,
    Run,
    RunStatus,
    SubscriptionStatus,
    SynonymGroup,
    Tag,
    Variable,
    VariableRetention,
)
from db.project_database import ProjectDatabase
from db.workspace import Workspace

from .conftest import BACKENDS, unique_name

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


async def _seed(db: ProjectDatabase) -> tuple[int, int, int]:
    """A bot, a contact and a published funnel version; returns their ids."""
    async with db.session() as session, session.begin():
        bot = Channel(kind=ChannelKind.BOT, name="Open bot", role=BotRole.OPEN, is_main=True)
        contact = Contact(telegram_user_id=7_000_000_001, first_name="Анна")
        funnel = Funnel(name="Таро", draft_json='{"schema_version": 1}')
        version = FunnelVersion(funnel=funnel, version=1, document_json='{"schema_version": 1}')
        session.add_all([bot, contact, funnel, version])
        await session.flush()
        return bot.id, contact.id, version.id


async def test_contact_telegram_user_id_is_unique(project_db: ProjectDatabase) -> None:
    async with project_db.session() as session, session.begin():
        session.add(Contact(telegram_user_id=5_000_000_000))
    with pytest.raises(IntegrityError):
        async with project_db.session() as session, session.begin():
            session.add(Contact(telegram_user_id=5_000_000_000))


@pytest.mark.parametrize("backend", BACKENDS)
async def test_two_projects_can_each_have_the_same_contact(
    workspace: Workspace, backend: str, request: pytest.FixtureRequest
) -> None:
    server = request.getfixturevalue("pg_server_url") if backend == "postgresql" else None
    projects = [
        await workspace.create_project(unique_name(), database_url=server) for _ in range(2)
    ]
    for project in projects:
        async with (
            await workspace.open_project_db(project) as db,
            db.session() as session,
            session.begin(),
        ):
            session.add(Contact(telegram_user_id=123456789, first_name=project.name))
    for project in projects:
        async with await workspace.open_project_db(project) as db, db.session() as session:
            contacts = (await session.scalars(select(Contact))).all()
            assert [(c.telegram_user_id, c.first_name) for c in contacts] == [
                (123456789, project.name)
            ]


async def test_timestamps_come_back_timezone_aware_in_utc(project_db: ProjectDatabase) -> None:
    moscow = timezone(timedelta(hours=3))
    async with project_db.session() as session, session.begin():
        session.add(
            Contact(telegram_user_id=1, created_at=datetime(2025, 3, 1, 12, 30, tzinfo=moscow))
        )
    async with project_db.session() as session:
        stored = await session.scalar(select(Contact.created_at))
        default = await session.scalar(select(Contact))
    assert stored == datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
    assert stored is not None and stored.utcoffset() == timedelta(0)
    assert default is not None and default.created_at.tzinfo is not None


async def test_naive_datetimes_are_refused(project_db: ProjectDatabase) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        async with project_db.session() as session, session.begin():
            session.add(Contact(telegram_user_id=1, created_at=datetime(2025, 3, 1, 12, 30)))


async def test_due_timers_are_found_by_time_comparison(project_db: ProjectDatabase) -> None:
    _, contact_id, version_id = await _seed(project_db)
    async with project_db.session() as session, session.begin():
        for minutes in (-10, 5, 60):
            session.add(
                Run(
                    contact_id=contact_id,
                    funnel_version_id=version_id,
                    node_id=f"node-{minutes}",
                    status=RunStatus.WAITING,
                    due_at=T0 + timedelta(minutes=minutes),
                )
            )
    async with project_db.session() as session:
        due = await session.scalars(
            select(Run.node_id)
            .where(Run.status == RunStatus.WAITING, Run.due_at <= T0 + timedelta(minutes=5))
            .order_by(Run.due_at)
        )
        assert due.all() == ["node--10", "node-5"]


async def test_run_compare_and_set_on_lock_version(project_db: ProjectDatabase) -> None:
    _, contact_id, version_id = await _seed(project_db)
    async with project_db.session() as session, session.begin():
        run = Run(contact_id=contact_id, funnel_version_id=version_id, node_id="start")
        session.add(run)
    assert run.lock_version == 0 and run.context == {}

    async def advance(seen: int, node: str) -> int:
        async with project_db.session() as session, session.begin():
            result = await session.execute(
                update(Run)
                .where(Run.id == run.id, Run.lock_version == seen)
                .values(node_id=node, lock_version=Run.lock_version + 1)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    assert await advance(0, "second") == 1
    assert await advance(0, "stale timer") == 0
    async with project_db.session() as session:
        assert await session.scalar(select(Run.node_id).where(Run.id == run.id)) == "second"


async def test_tags_survive_a_status_change_and_are_unique_per_contact(
    project_db: ProjectDatabase,
) -> None:
    bot_id, contact_id, _ = await _seed(project_db)
    async with project_db.session() as session, session.begin():
        tag = Tag(name="купил", is_key=True, manager_label="💰")
        session.add_all(
            [
                tag,
                ContactChannel(contact_id=contact_id, channel_id=bot_id, arrived_via="src_vk"),
                ContactTag(contact_id=contact_id, tag=tag),
            ]
        )
    async with project_db.session() as session, session.begin():
        status = await session.get_one(ContactChannel, (contact_id, bot_id))
        status.status = SubscriptionStatus.BLOCKED
        await session.delete(status)
    async with project_db.session() as session:
        assert await session.scalar(select(func.count()).select_from(ContactTag)) == 1
    with pytest.raises(IntegrityError):
        async with project_db.session() as session, session.begin():
            session.add(ContactTag(contact_id=contact_id, tag_id=tag.id))


async def test_enum_columns_refuse_unknown_values(project_db: ProjectDatabase) -> None:
    with pytest.raises((StatementError, LookupError)):
        async with project_db.session() as session, session.begin():
            session.add(Channel(kind="carrier_pigeon", name="x"))  # type: ignore[arg-type]


async def test_one_main_channel_per_group_and_kind(project_db: ProjectDatabase) -> None:
    await _seed(project_db)  # "Open bot" is the main bot of group "main"
    async with project_db.session() as session, session.begin():
        session.add(Channel(kind=ChannelKind.BOT, name="Paid", role=BotRole.PAID))
        session.add(Channel(kind=ChannelKind.MANAGER_ACCOUNT, name="Мария", is_main=True))
        session.add(
            Channel(kind=ChannelKind.BOT, name="Paid main", group_name="paid", is_main=True)
        )
    with pytest.raises(IntegrityError):
        async with project_db.session() as session, session.begin():
            session.add(Channel(kind=ChannelKind.BOT, name="Second main", is_main=True))


async def test_outbox_idempotency_key_and_update_dedup(project_db: ProjectDatabase) -> None:
    bot_id, contact_id, _ = await _seed(project_db)
    message = {"text": "Привет", "protect_content": True, "buttons": [["Да", "Нет"]]}
    async with project_db.session() as session, session.begin():
        session.add(
            OutboxMessage(
                idempotency_key="run:1:node:a:0",
                contact_id=contact_id,
                channel_id=bot_id,
                payload=message,
                not_before=T0,
            )
        )
        session.add(ProcessedUpdate(channel_id=bot_id, update_id=2**40))
    async with project_db.session() as session:
        row = await session.scalar(select(OutboxMessage))
        assert row is not None
        assert (row.payload, row.status, row.attempts) == (message, OutboxStatus.PENDING, 0)
    for duplicate in (
        OutboxMessage(
            idempotency_key="run:1:node:a:0", contact_id=contact_id, channel_id=bot_id, payload={}
        ),
        ProcessedUpdate(channel_id=bot_id, update_id=2**40),
    ):
        with pytest.raises(IntegrityError):
            async with project_db.session() as session, session.begin():
                session.add(duplicate)


async def test_business_tables_round_trip(project_db: ProjectDatabase) -> None:
    bot_id, contact_id, version_id = await _seed(project_db)
    async with project_db.session() as session, session.begin():
        product = Product(name="Таро")
        session.add_all(
            [
                Purchase(
                    contact_id=contact_id,
                    product=product,
                    amount=Decimal("1990.50"),
                    currency="RUB",
                ),
                PersonalLink(
                    token="tok_abc",
                    contact_id=contact_id,
                    product=product,
                    target_channel_id=bot_id,
                    expires_at=T0 + timedelta(days=7),
                ),
                Variable(
                    contact_id=contact_id,
                    name="birth_date",
                    value="1990-05-17",
                    retention=VariableRetention.CLEAR_ON_UNSUBSCRIBE,
                ),
                SynonymGroup(name="спасибо", words=["спасибо", "благодарю"]),
                HistoryEvent(
                    contact_id=contact_id,
                    kind="node.entered",
                    funnel_version_id=version_id,
                    node_id="start",
                    details={"via": "code phrase"},
                ),
            ]
        )
    async with project_db.session() as session:
        purchase = await session.scalar(select(Purchase))
        link = await session.scalar(select(PersonalLink))
        variable = await session.scalar(select(Variable))
        synonyms = await session.scalar(select(SynonymGroup))
        event = await session.scalar(select(HistoryEvent))
    assert purchase is not None and purchase.amount == Decimal("1990.50")
    assert link is not None and link.expires_at == T0 + timedelta(days=7)
    assert variable is not None and variable.value == "1990-05-17"
    assert synonyms is not None and synonyms.words == ["спасибо", "благодарю"]
    assert event is not None and event.details == {"via": "code phrase"} and event.at.tzinfo


async def test_foreign_keys_are_enforced(project_db: ProjectDatabase) -> None:
    with pytest.raises(IntegrityError):
        async with project_db.session() as session, session.begin():
            session.add(ContactTag(contact_id=999, tag_id=999))
