"""Projects, channels, tags, products, synonym groups and funnels over HTTP."""

from __future__ import annotations

import json
from typing import Any

from db.models import Channel, Secret, SecretPurpose
from tests.api.conftest import Api, both_backends

pytestmark = both_backends


async def _first_funnel(api: Api) -> dict[str, Any]:
    r = await api.client.get(f"{api.p}/funnels", headers=api.auth("viewer"))
    assert r.status_code == 200
    return r.json()[0]


async def test_create_project_roles_and_errors(api: Api) -> None:
    body = {"name": "EMA"}
    r = await api.client.post("/projects", json=body, headers=api.auth("editor"))
    assert r.status_code == 403 and "admin" in r.json()["detail"]
    r = await api.client.post("/projects", json=body, headers=api.auth("admin"))
    assert r.status_code == 201 and r.json()["slug"] == "ema"
    assert (api.service.workspace.projects_dir / "ema.sqlite3").exists()
    r = await api.client.post("/projects", json=body, headers=api.auth("admin"))
    assert r.status_code == 409
    r = await api.client.post(
        "/projects", json={"name": "X", "timezone": "Mars/Base"}, headers=api.auth("admin")
    )
    assert r.status_code == 422 and "Mars/Base" in r.json()["detail"]
    r = await api.client.post("/projects", json={"nam": "X"}, headers=api.auth("admin"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "name"]


async def test_project_details(api: Api) -> None:
    r = await api.client.get(api.p, headers=api.auth("viewer"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["slug"], body["name"], body["timezone"]) == (
        api.demo.slug,
        api.demo.name,
        api.demo.timezone,
    )
    assert body["database_kind"] == api.backend
    assert (
        await api.client.get(f"/projects/{api.demo.slug}", headers=api.auth("outsider"))
    ).status_code == 403


async def test_channels_never_show_secrets(api: Api) -> None:
    db = await api.service.database(api.demo)
    async with db.sessions() as s, s.begin():
        channel = (await s.scalars(Channel.__table__.select().limit(1))).first()
        s.add(Secret(channel_id=channel, purpose=SecretPurpose.BOT_TOKEN, ciphertext="SECRET-X"))
    r = await api.client.get(f"{api.p}/channels", headers=api.auth("viewer"))
    assert r.status_code == 200 and "SECRET-X" not in r.text
    assert sum(c["has_credentials"] for c in r.json()) == 1
    assert {c["role"] for c in r.json() if c["kind"] == "bot"} == {"open", "paid", "free"}


async def test_tags_products_synonyms(api: Api) -> None:
    tags = (await api.client.get(f"{api.p}/tags", headers=api.auth("viewer"))).json()
    assert any(t["is_key"] and t["manager_label"] for t in tags)
    new = {"name": "VIP", "colour": "#FF0000", "manager_label": "⭐", "is_key": True}
    r = await api.client.post(f"{api.p}/tags", json=new, headers=api.auth("viewer"))
    assert r.status_code == 403
    r = await api.client.post(f"{api.p}/tags", json=new, headers=api.auth("editor"))
    assert r.status_code == 201, r.text
    tag_id = r.json()["id"]
    assert (
        await api.client.post(f"{api.p}/tags", json=new, headers=api.auth("editor"))
    ).status_code == 409
    bad = await api.client.post(
        f"{api.p}/tags", json={**new, "name": "Z", "colour": "red"}, headers=api.auth("editor")
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "colour"]
    r = await api.client.patch(
        f"{api.p}/tags/{tag_id}",
        json={"colour": "#00ff00", "manager_label": None},
        headers=api.auth("editor"),
    )
    assert r.json() == {**new, "id": tag_id, "colour": "#00ff00", "manager_label": None}
    assert (
        await api.client.patch(f"{api.p}/tags/999", json={}, headers=api.auth("editor"))
    ).status_code == 404

    r = await api.client.post(
        f"{api.p}/products", json={"name": "Курс"}, headers=api.auth("editor")
    )
    assert r.status_code == 201
    names = [
        p["name"]
        for p in (await api.client.get(f"{api.p}/products", headers=api.auth("viewer"))).json()
    ]
    assert "Курс" in names

    group = {"name": "спасибо", "words": ["спасибо", "благодарю", " "]}
    r = await api.client.post(f"{api.p}/synonym-groups", json=group, headers=api.auth("editor"))
    assert r.status_code == 201 and r.json()["words"] == ["спасибо", "благодарю"]
    r = await api.client.put(
        f"{api.p}/synonym-groups/{r.json()['id']}",
        json={"name": "спасибо", "words": ["спс"]},
        headers=api.auth("editor"),
    )
    assert r.json()["words"] == ["спс"]
    listed = (await api.client.get(f"{api.p}/synonym-groups", headers=api.auth("viewer"))).json()
    assert listed[0]["words"] == ["спс"]


async def test_draft_roundtrip_and_conflict(api: Api) -> None:
    funnel = await _first_funnel(api)
    url = f"{api.p}/funnels/{funnel['id']}"
    r = await api.client.get(url, headers=api.auth("viewer"))
    assert r.status_code == 200
    draft = r.json()
    assert r.headers["ETag"] == f'"{draft["revision"]}"' and draft["published_version"] == 1
    doc = draft["document"]
    doc["description"] = "edited by editor"
    body = {"document": doc, "revision": draft["revision"]}

    denied = await api.client.put(url, json=body, headers=api.auth("viewer"))
    assert denied.status_code == 403
    saved = await api.client.put(url, json=body, headers=api.auth("editor"))
    assert saved.status_code == 200 and saved.json()["revision"] == draft["revision"] + 1

    stale = await api.client.put(url, json=body, headers=api.auth("admin"))
    assert stale.status_code == 409
    detail = stale.json()
    assert "changed by someone else" in detail["detail"] and "reload" in detail["detail"]
    assert detail["current_revision"] == draft["revision"] + 1

    # If-Match works as well as the field.
    r = await api.client.put(
        url,
        json={"document": doc},
        headers={**api.auth("editor"), "If-Match": f'"{draft["revision"] + 1}"'},
    )
    assert r.status_code == 200 and r.headers["ETag"] == f'"{draft["revision"] + 2}"'
    assert (
        await api.client.put(url, json={"document": doc}, headers=api.auth("editor"))
    ).status_code == 428

    bad = await api.client.put(
        url, json={"document": {**doc, "nodes": "x"}, "revision": 99}, headers=api.auth("editor")
    )
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "nodes"
    missing = await api.client.put(url, json={"revision": 1}, headers=api.auth("editor"))
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "document"]
    assert (
        await api.client.get(f"{api.p}/funnels/999", headers=api.auth("viewer"))
    ).status_code == 404


async def test_validate_publish_versions(api: Api) -> None:
    funnel = await _first_funnel(api)
    url = f"{api.p}/funnels/{funnel['id']}"
    r = await api.client.post(f"{url}/validate", headers=api.auth("viewer"))
    assert r.status_code == 200 and r.json()["has_errors"] is False
    doc = (await api.client.get(url, headers=api.auth("viewer"))).json()["document"]
    broken = {
        **doc,
        "nodes": [
            *doc["nodes"],
            {"id": "8b0f6c1e-6c11-4b55-9a55-000000000001", "type": "nope", "props": {}},
        ],
    }
    r = await api.client.post(f"{url}/validate", json=broken, headers=api.auth("viewer"))
    problems = r.json()["problems"]
    assert r.json()["has_errors"] and problems[0]["code"] == "unknown_node_type"
    assert set(problems[0]) >= {"code", "message", "message_ru", "node_id", "field", "severity"}

    assert (await api.client.post(f"{url}/publish", headers=api.auth("viewer"))).status_code == 403
    r = await api.client.post(f"{url}/publish", headers=api.auth("editor"))
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and r.json()["contacts_on_removed_nodes"] == 0
    versions = (await api.client.get(f"{url}/versions", headers=api.auth("viewer"))).json()
    assert [v["version"] for v in versions] == [2, 1] and versions[0]["published_by"] == "editor"
    v1 = await api.client.get(f"{url}/versions/1", headers=api.auth("viewer"))
    assert v1.json()["document"]["name"] == funnel["name"]

    # A draft with errors is refused with its problems.
    draft = (await api.client.get(url, headers=api.auth("viewer"))).json()
    await api.client.put(
        url, json={"document": broken, "revision": draft["revision"]}, headers=api.auth("editor")
    )
    refused = await api.client.post(f"{url}/publish", headers=api.auth("editor"))
    assert refused.status_code == 422 and refused.json()["problems"]


async def test_create_duplicate_delete(api: Api) -> None:
    r = await api.client.post(
        f"{api.p}/funnels", json={"name": "Новая"}, headers=api.auth("editor")
    )
    assert r.status_code == 201
    new_id = r.json()["id"]
    assert (
        await api.client.post(
            f"{api.p}/funnels", json={"name": "Новая"}, headers=api.auth("editor")
        )
    ).status_code == 409
    dup = await api.client.post(f"{api.p}/funnels/{new_id}/duplicate", headers=api.auth("editor"))
    assert dup.status_code == 201
    names = [
        f["name"]
        for f in (await api.client.get(f"{api.p}/funnels", headers=api.auth("viewer"))).json()
    ]
    assert "Новая (копия)" in names
    assert (
        await api.client.delete(f"{api.p}/funnels/{new_id}", headers=api.auth("editor"))
    ).status_code == 204
    names = [
        f["name"]
        for f in (await api.client.get(f"{api.p}/funnels", headers=api.auth("viewer"))).json()
    ]
    assert "Новая" not in names


async def test_copy_to_other_project(api: Api) -> None:
    funnel = await _first_funnel(api)
    url = f"{api.p}/funnels/{funnel['id']}"
    plan = await api.client.post(
        f"{url}/copy-plan", json={"target": api.other.name}, headers=api.auth("viewer")
    )
    assert plan.status_code == 200
    body = plan.json()["plan"]
    assert body["funnel_name"] == funnel["name"] and body["problems"]  # the target has no bots
    refused = await api.client.post(
        f"{url}/copy", json={"target": api.other.slug}, headers=api.auth("editor")
    )
    assert refused.status_code == 422 and refused.json()["plan"]["problems"]
    # Outsider has no access to the demo project: refused before anything.
    r = await api.client.post(
        f"{url}/copy", json={"target": api.other.slug}, headers=api.auth("outsider")
    )
    assert r.status_code == 403
    r = await api.client.post(
        f"{url}/copy-plan", json={"target": "nowhere"}, headers=api.auth("admin")
    )
    assert r.status_code == 404


async def test_copy_succeeds_into_project_with_bots(api: Api) -> None:
    from engine.demo_setup import install_demo_project

    twin = await install_demo_project(api.service.workspace, name="Близнец")
    funnel = await _first_funnel(api)
    r = await api.client.post(
        f"{api.p}/funnels/{funnel['id']}/copy",
        json={"target": twin.slug},
        headers=api.auth("editor"),
    )
    assert r.status_code == 201, r.text
    assert r.json()["funnel_id"] and r.json()["plan"]["funnel_name"].startswith(funnel["name"])


async def test_export_import(api: Api) -> None:
    funnel = await _first_funnel(api)
    r = await api.client.get(f"{api.p}/funnels/{funnel['id']}/export", headers=api.auth("viewer"))
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    exported = r.json()
    imported = await api.client.post(
        f"{api.p}/funnels/import",
        params={"name": "Импорт"},
        json=exported,
        headers=api.auth("editor"),
    )
    assert imported.status_code == 201, imported.text
    got = (
        await api.client.get(f"{api.p}/funnels/{imported.json()['id']}", headers=api.auth("viewer"))
    ).json()
    assert got["document"]["name"] == "Импорт" and len(got["document"]["nodes"]) == len(
        exported["nodes"]
    )

    bad_json = await api.client.post(
        f"{api.p}/funnels/import",
        content=b'{"schema_version": 1, "nodes": [',
        headers={**api.auth("editor"), "Content-Type": "application/json"},
    )
    assert bad_json.status_code == 422
    assert bad_json.json()["detail"][0]["type"] == "json_invalid"
    wrong_version = await api.client.post(
        f"{api.p}/funnels/import",
        json={**exported, "schema_version": 9},
        headers=api.auth("editor"),
    )
    assert wrong_version.status_code == 422
    assert wrong_version.json()["problems"][0]["code"] == "unsupported_schema_version"
    assert "schema_version" in json.dumps(wrong_version.json())
