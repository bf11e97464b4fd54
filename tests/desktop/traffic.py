"""Simulated traffic for the desktop tests: contacts start the demo project's open bot."""

from __future__ import annotations

from datetime import UTC, datetime

from db.workspace import Workspace
from engine.clock import VirtualClock
from engine.events import ContactIdentity
from engine.simulation import Harness

# Monday 2024-05-06 10:00 Moscow time
START = datetime(2024, 5, 6, 7, 0, tzinfo=UTC)

PEOPLE = [
    ContactIdentity(user_id=5001, first_name="Анна", last_name="Смирнова", username="anna_s"),
    ContactIdentity(user_id=5002, first_name="Борис", username="boris"),
    ContactIdentity(user_id=5003, first_name="Вера", last_name="Ким"),
]


async def start_open_bot(
    workspace: Workspace, project_name: str, people: list[ContactIdentity] = PEOPLE
) -> None:
    """Each person sends /start to the open bot (they then wait for a birth date)."""
    project = await workspace.get_project(project_name)
    harness = await Harness.open(workspace, project, VirtualClock(START))
    try:
        bot = harness.channel_name("open")
        for person in people:
            await harness.world.contact_starts(bot, person)
        await harness.settle()
    finally:
        await harness.close()


def crowd(n: int, first_id: int = 6000) -> list[ContactIdentity]:
    """``n`` plausible contacts (names, most with a @username)."""
    first = ["Алина", "Дмитрий", "Екатерина", "Игорь", "Мария", "Олег", "Светлана", "Тимур",
             "Юлия", "Павел", "Ксения", "Роман", "Наталья", "Артём", "Ольга", "Георгий",
             "Полина", "Никита", "Дарья", "Степан"]  # fmt: skip
    last = ["Иванова", "Петров", None, "Соколов", "Кузнецова", None, "Морозова", "Орлов"]
    return [
        ContactIdentity(
            user_id=first_id + i,
            first_name=first[i % len(first)],
            last_name=last[i % len(last)],
            username=None if i % 4 == 3 else f"user{first_id + i}",
        )
        for i in range(n)
    ]


async def busy_day(workspace: Workspace, project_name: str) -> None:
    """Traffic at several stages of the open bot: some wait for a birth date, some sent
    a wrong one, some got the free analysis, a few asked for more."""
    project = await workspace.get_project(project_name)
    harness = await Harness.open(workspace, project, VirtualClock(START))
    people = crowd(20)
    try:
        bot = harness.channel_name("open")
        w = harness.world
        for person in people:
            await w.contact_starts(bot, person)
        for person in people[:11]:
            await w.contact_says(bot, person, "12.03.1990")
        for person in people[11:14]:
            await w.contact_says(bot, person, "не помню")
        for person in people[:3]:
            await w.contact_says(bot, person, "расскажи")
        await harness.settle()
    finally:
        await harness.close()


async def busy_week(workspace: Workspace, project_name: str) -> None:
    """:func:`busy_day` on Monday, then on Wednesday five new people start the open bot
    and two of Monday's (still waiting for a birth date) block it; timers fire between."""
    from datetime import timedelta

    project = await workspace.get_project(project_name)
    harness = await Harness.open(workspace, project, VirtualClock(START))
    people = crowd(20)
    try:
        bot = harness.channel_name("open")
        w = harness.world
        for person in people:
            await w.contact_starts(bot, person)
        for person in people[:11]:
            await w.contact_says(bot, person, "12.03.1990")
        for person in people[11:14]:
            await w.contact_says(bot, person, "не помню")
        for person in people[:3]:
            await w.contact_says(bot, person, "расскажи")
        await harness.settle()
        await harness.advance(timedelta(days=2))
        for person in crowd(5, first_id=7000):
            await w.contact_starts(bot, person)
        for person in people[14:16]:
            await w.contact_blocks(bot, person)
        await harness.settle()
    finally:
        await harness.close()


async def manager_confirms_payment(
    workspace: Workspace, project_name: str, person: ContactIdentity
) -> None:
    """The manager writes the payment phrase to ``person`` now: the demo's payment robot
    gives them a personal link to the paid bot."""
    project = await workspace.get_project(project_name)
    harness = await Harness.open(workspace, project, VirtualClock(datetime.now(UTC)))
    try:
        await harness.world.manager_says("Менеджер", person, "оплату за Таро получила")
        await harness.settle()
    finally:
        await harness.close()
