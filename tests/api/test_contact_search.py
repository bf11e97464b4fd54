"""Contact search as staff type it: any case, ё or е, several words, @username, id.

The same search backs the API and the desktop's embedded backend
(:mod:`engine.contact_search`); on SQLite, whose ``lower()`` folds ASCII only, it goes
through the ``voronka_fold`` function registered on every connection.
"""

from __future__ import annotations

from db.models import Contact
from tests.api.conftest import Api, both_backends

pytestmark = both_backends

PEOPLE = {
    5550001: ("Семён", "Петров", "semyon"),
    5550002: ("Анна", "Петрова", "anna_p"),
    5550003: ("АЛЁНА", None, None),
    5550004: ("Anna", "Smith", "a_100%_real"),
}


async def _people(api: Api) -> dict[int, int]:
    db = await api.service.database(api.demo)
    async with db.sessions() as s, s.begin():
        rows = {
            uid: Contact(telegram_user_id=uid, first_name=first, last_name=last, username=user)
            for uid, (first, last, user) in PEOPLE.items()
        }
        s.add_all(rows.values())
    return {uid: c.id for uid, c in rows.items()}


async def _found(api: Api, q: str) -> set[int]:
    answer = await api.client.get(
        f"{api.p}/contacts", params={"q": q, "limit": 500}, headers=api.auth("viewer")
    )
    assert answer.status_code == 200, answer.text
    return {c["telegram_user_id"] for c in answer.json()} & set(PEOPLE)


async def test_search_folds_case_and_yo(api: Api) -> None:
    await _people(api)
    assert await _found(api, "семен") == {5550001}
    assert await _found(api, "СЕМЁН") == {5550001}
    assert await _found(api, "алена") == {5550003}
    assert await _found(api, "петров") == {5550001, 5550002}
    assert await _found(api, "анна петрова") == {5550002}  # every word, any column
    assert await _found(api, "Петрова Анна") == {5550002}
    assert await _found(api, "anna") == {5550002, 5550004}  # a name or a username
    assert await _found(api, "@ANNA_P") == {5550002}
    assert await _found(api, "100%") == {5550004}  # % and _ are literal
    assert await _found(api, "_") == {5550002, 5550004}
    assert await _found(api, "5550003") == {5550003}
    assert await _found(api, "анна смит") == set()


async def test_desktop_backend_uses_the_same_search(api: Api) -> None:
    await _people(api)
    found = await api.service.search_contacts(api.demo.name, "семен петров")
    assert [c["telegram_user_id"] for c in found] == [5550001]
