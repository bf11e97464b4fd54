"""Media upload (POST /projects/{p}/media) and download: roles, access, dedupe, the size
limit, the stored file sent by a bot (real aiogram against the fake Bot API), and media
travelling with a robot copied to another project."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

from connectors.base import ChannelRef, Media, MediaKind, OutgoingMessage
from connectors.telegram_bot import TelegramBotConfig, TelegramBotConnector
from engine.events import ChannelKind
from engine.media_store import project_root, stored_sources
from tests.api.conftest import Api, both_backends
from tests.fakes import FakeTelegramBotAPI

pytestmark = both_backends

PICTURE = b"\xff\xd8\xff\xe0 a small fake jpeg " * 40
TOKEN = "7000000555:AAHsecretSECRETsecret_0123456789abcd"


async def upload(
    api: Api, data: bytes, name: str = "offer.jpg", who: str = "editor", project: str = ""
) -> Any:
    return await api.client.post(
        f"{project or api.p}/media",
        params={"name": name},
        content=data,
        headers={**api.auth(who), "Content-Type": "image/jpeg"},
    )


async def test_upload_dedupes_and_serves_the_file(api: Api) -> None:
    r = await upload(api, PICTURE)
    assert r.status_code == 200, r.text
    body = r.json()
    sha = hashlib.sha256(PICTURE).hexdigest()
    assert body == {
        "source": f"media/{sha}/offer.jpg", "sha256": sha, "size": len(PICTURE), "created": True
    }  # fmt: skip
    stored = project_root(api.service.workspace.directory, api.demo.slug) / body["source"]
    assert stored.read_bytes() == PICTURE

    again = await upload(api, PICTURE, who="admin")
    assert again.status_code == 200
    assert again.json()["source"] == body["source"] and again.json()["created"] is False
    renamed = await upload(api, PICTURE, name="../../Прайс <новый>.jpg")
    assert renamed.json()["source"] == f"media/{sha}/Прайс _новый_.jpg"
    assert renamed.json()["created"] is False
    assert len(list(stored.parent.iterdir())) == 2  # two names, one content

    got = await api.client.get(f"{api.p}/{body['source']}", headers=api.auth("viewer"))
    assert got.status_code == 200 and got.content == PICTURE
    assert got.headers["content-type"] == "image/jpeg"
    missing = await api.client.get(f"{api.p}/media/{'0' * 64}/x.jpg", headers=api.auth("viewer"))
    assert missing.status_code == 404 and "no stored media file" in missing.json()["detail"]


async def test_too_big_is_413_naming_the_limit(api: Api) -> None:
    api.app.state.media_max_bytes = 1024
    r = await upload(api, b"x" * 1025)
    assert r.status_code == 413
    assert r.json()["detail"] == "the file is larger than the limit of 1 KB (1024 bytes)"

    async def body() -> AsyncIterator[bytes]:  # no Content-Length: counted while reading
        for _ in range(3):
            yield b"y" * 500

    r = await api.client.post(
        f"{api.p}/media", params={"name": "a.bin"}, content=body(), headers=api.auth("editor")
    )
    assert r.status_code == 413 and "1 KB" in r.json()["detail"]
    media = project_root(api.service.workspace.directory, api.demo.slug) / "media"
    assert [p for p in media.rglob("*") if p.is_file()] == []  # nothing half-stored
    assert (await upload(api, b"z" * 1024)).status_code == 200  # exactly the limit is fine


async def test_roles_and_projects(api: Api) -> None:
    r = await upload(api, PICTURE, who="viewer")
    assert r.status_code == 403 and "editor role" in r.json()["detail"]
    r = await upload(api, PICTURE, who="outsider")  # an editor of the other project only
    assert r.status_code == 403
    r = await upload(api, PICTURE, who="outsider", project="/projects/nowhere")
    assert r.status_code == 403
    r = await upload(api, PICTURE, who="admin", project="/projects/nowhere")
    assert r.status_code == 404
    r = await api.client.post(f"{api.p}/media", params={"name": "a.jpg"}, content=PICTURE)
    assert r.status_code == 401
    # The outsider's own project works, and its files are its own.
    own = await upload(api, PICTURE, who="outsider", project=f"/projects/{api.other.slug}")
    assert own.status_code == 200
    r = await api.client.get(f"{api.p}/{own.json()['source']}", headers=api.auth("outsider"))
    assert r.status_code == 403


async def test_a_robot_with_uploaded_media_is_sent_and_copied(api: Api) -> None:
    source = (await upload(api, PICTURE)).json()["source"]

    # The robot keeps the relative source.
    funnels = (await api.client.get(f"{api.p}/funnels", headers=api.auth("viewer"))).json()
    url = f"{api.p}/funnels/{funnels[0]['id']}"
    draft = (await api.client.get(url, headers=api.auth("editor"))).json()
    doc = draft["document"]
    node = next(n for n in doc["nodes"] if n["type"] == "message")
    node["props"]["media"] = [{"kind": "photo", "source": source}]
    saved = await api.client.put(
        url, json={"document": doc, "revision": draft["revision"]}, headers=api.auth("editor")
    )
    assert saved.status_code == 200, saved.text
    problems = await api.client.post(f"{url}/validate", json=doc, headers=api.auth("editor"))
    assert problems.status_code == 200 and not problems.json()["has_errors"]

    # A bot of the project sends it as an upload (resolved in the project's folder, as the
    # daemon configures its bots), then by Telegram's file_id.
    async with FakeTelegramBotAPI(rate_limits=False) as fake:
        bot = fake.add_bot(TOKEN, username="media_bot")
        channel = ChannelRef(
            project=api.demo.name, kind=ChannelKind.BOT, channel_id=str(bot.id), name="media_bot"
        )
        connector = TelegramBotConnector(
            TelegramBotConfig(
                token=TOKEN,
                username="media_bot",
                channel=channel,
                api_base=fake.base_url,
                media_root=project_root(api.service.workspace.directory, api.demo.slug),
                send_timeout=2.0,
            )
        )
        try:
            for key in ("k1", "k2"):
                message = OutgoingMessage(
                    channel=channel,
                    chat_id=901,
                    idempotency_key=key,
                    text="Прайс",
                    media=(Media(kind=MediaKind.PHOTO, source=source),),
                )
                assert (await connector.send(message)).ok
            first, second = fake.sent(bot, 901)
        finally:
            await connector.stop()
    assert first.media[0].source == "upload" and first.media[0].data == PICTURE
    assert second.media[0].source == "file_id"

    # Copied to another project with bots, the robot's media come along.
    from engine.demo_setup import install_demo_project

    twin = await install_demo_project(api.service.workspace, name="Близнец медиа")
    r = await api.client.post(f"{url}/copy", json={"target": twin.slug}, headers=api.auth("editor"))
    assert r.status_code == 201, r.text
    copied = await api.client.get(
        f"/projects/{twin.slug}/funnels/{r.json()['funnel_id']}", headers=api.auth("admin")
    )
    assert stored_sources(copied.json()["document"]) == {source}
    copy_file = project_root(api.service.workspace.directory, twin.slug) / source
    assert copy_file.read_bytes() == PICTURE
    got = await api.client.get(f"/projects/{twin.slug}/{source}", headers=api.auth("admin"))
    assert got.status_code == 200 and got.content == PICTURE
