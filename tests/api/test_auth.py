"""Login, tokens, rate limiting, users and roles."""

from __future__ import annotations

from pathlib import Path

from db.staff import StaffDirectory, ensure_admin, hash_password, verify_password
from db.workspace import Workspace
from tests.api.conftest import PASSWORD, Api


def test_password_hash_roundtrip() -> None:
    stored = hash_password("секретный пароль")
    assert stored.startswith("scrypt$16384$8$1$")
    assert verify_password("секретный пароль", stored)
    assert not verify_password("секретный пароль!", stored)
    assert not verify_password("x", "garbage")


async def test_health_is_open(api: Api) -> None:
    response = await api.client.get("/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"


async def test_login_me_logout(api: Api) -> None:
    response = await api.client.post("/auth/login", json={"login": "Editor", "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    token = body["token"]
    assert token.startswith("vk_") and body["user"]["role"] == "editor"
    assert body["info"]["expires_at"] is not None
    headers = {"Authorization": f"Bearer {token}"}
    me = await api.client.get("/auth/me", headers=headers)
    assert me.json()["login"] == "editor"
    assert (await api.client.post("/auth/logout", headers=headers)).status_code == 204
    again = await api.client.get("/auth/me", headers=headers)
    assert again.status_code == 401 and again.headers["WWW-Authenticate"] == "Bearer"


async def test_token_is_stored_hashed(api: Api) -> None:
    response = await api.client.post(
        "/auth/tokens", json={"name": "script"}, headers=api.auth("viewer")
    )
    assert response.status_code == 201
    token = response.json()["token"]
    raw = api.service.workspace.registry_path.read_bytes()
    assert token.encode() not in raw
    listed = await api.client.get("/auth/tokens", headers=api.auth("viewer"))
    assert "token" not in listed.json()[0]
    token_id = response.json()["info"]["id"]
    assert (
        await api.client.delete(f"/auth/tokens/{token_id}", headers=api.auth("viewer"))
    ).status_code == 204
    assert (
        await api.client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    ).status_code == 401


async def test_login_rate_limited(api: Api) -> None:
    for _ in range(5):
        bad = await api.client.post("/auth/login", json={"login": "viewer", "password": "nope"})
        assert bad.status_code == 401
    limited = await api.client.post("/auth/login", json={"login": "viewer", "password": PASSWORD})
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # Another login from the same client is not affected.
    ok = await api.client.post("/auth/login", json={"login": "editor", "password": PASSWORD})
    assert ok.status_code == 200


async def test_unknown_login_and_bad_token(api: Api) -> None:
    response = await api.client.post("/auth/login", json={"login": "ghost", "password": "x"})
    assert response.status_code == 401
    for header in ("Bearer vk_nope", "Bearer nope", "Basic abc"):
        r = await api.client.get("/projects", headers={"Authorization": header})
        assert r.status_code == 401


async def test_users_admin_only(api: Api) -> None:
    new = {"login": "olga", "password": "long enough", "role": "viewer", "projects": [api.demo.id]}
    assert (
        await api.client.post("/users", json=new, headers=api.auth("editor"))
    ).status_code == 403
    created = await api.client.post("/users", json=new, headers=api.auth("admin"))
    assert created.status_code == 201, created.text
    assert created.json()["projects"] == [api.demo.id]
    dup = await api.client.post("/users", json=new, headers=api.auth("admin"))
    assert dup.status_code == 409
    short = await api.client.post(
        "/users", json={**new, "login": "x", "password": "short"}, headers=api.auth("admin")
    )
    assert short.status_code == 422 and short.json()["detail"][0]["loc"] == ["body", "password"]
    patched = await api.client.patch(
        "/users/olga", json={"role": "editor", "projects": None}, headers=api.auth("admin")
    )
    assert patched.json()["role"] == "editor" and patched.json()["projects"] is None
    login = await api.client.post("/auth/login", json={"login": "olga", "password": "long enough"})
    token = login.json()["token"]
    await api.client.patch("/users/olga", json={"disabled": True}, headers=api.auth("admin"))
    denied = await api.client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert denied.status_code == 401
    self_demote = await api.client.patch(
        "/users/admin", json={"role": "viewer"}, headers=api.auth("admin")
    )
    assert self_demote.status_code == 409
    listed = await api.client.get("/users", headers=api.auth("admin"))
    assert listed.status_code == 200
    olga = next(u for u in listed.json() if u["login"] == "olga")
    assert olga["role"] == "editor" and olga["disabled"] is True
    assert {u["login"] for u in listed.json()} >= {"admin", "editor", "viewer", "outsider"}
    assert (await api.client.get("/users", headers=api.auth("editor"))).status_code == 403
    assert (await api.client.delete("/users/olga", headers=api.auth("admin"))).status_code == 204
    assert (await api.client.delete("/users/olga", headers=api.auth("admin"))).status_code == 404


async def test_ensure_admin_is_idempotent(tmp_path: Path) -> None:
    async with await Workspace.open(tmp_path / "ws") as workspace:
        first = await ensure_admin(workspace, "root", "first password")
        again = await ensure_admin(workspace, "ROOT", "other password")
        assert first.id == again.id and again.role == "admin" and again.projects is None
        staff = StaffDirectory(workspace)
        assert await staff.authenticate("root", "first password") is not None
        assert await staff.authenticate("root", "other password") is None


async def test_registry_v1_upgrades(tmp_path: Path) -> None:
    import sqlite3

    async with await Workspace.open(tmp_path / "ws") as workspace:
        path = workspace.registry_path
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE api_tokens")
    conn.execute("DROP TABLE staff_users")
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    async with await Workspace.open(tmp_path / "ws") as workspace:
        await ensure_admin(workspace, "root", "first password")
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    conn.close()
