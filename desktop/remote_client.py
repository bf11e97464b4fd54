"""The engine over its HTTP API: the same operations as the embedded engine.

:class:`RemoteBackend` implements :class:`desktop.backend.EngineBackend` with ``httpx``
against ``engine.api`` (see ``engine/api/routes``). Log in with
:meth:`RemoteBackend.login` (login + password → a session token) or pass a token you
have (``RemoteBackend(url, token)`` then :meth:`RemoteBackend.check`). Errors come back
as :class:`RemoteError` with the server's ``detail``; a 409 on saving a draft is a
:class:`desktop.backend.DraftConflictError`, a 401 an :class:`AuthError`.
"""

from __future__ import annotations

import contextlib
import mimetypes
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from desktop.backend import (
    BackendError,
    DraftConflictError,
    FunnelDraft,
    FunnelSummary,
    LoginBackendError,
    NodeContact,
    ProjectInfo,
    PublishOutcome,
    VersionInfo,
)
from engine.media_store import is_stored_source
from graph.copying import CopyPlan
from graph.document import FunnelDocument
from graph.loading import funnel_to_dict, load_funnel
from graph.problems import Problem, ProblemCode, Severity
from graph.project_catalog import ProjectCatalog

TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class RemoteError(BackendError):
    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status, self.body = status, body


class AuthError(RemoteError):
    """Wrong login/password, or the token expired or was revoked."""


def problem_from_dict(data: dict[str, Any]) -> Problem:
    code: Any = data.get("code", "")
    with contextlib.suppress(ValueError):  # a newer server's code: keep the text
        code = ProblemCode(code)
    node_id = data.get("node_id")
    return Problem(
        code=code,
        message=str(data.get("message", "")),
        message_ru=str(data.get("message_ru") or data.get("message", "")),
        node_id=UUID(node_id) if node_id else None,
        node_title=data.get("node_title"),
        field=data.get("field"),
        severity=Severity(data.get("severity", "error")),
    )


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class RemoteBackend:
    """An engine server reached over HTTP (``base_url`` like ``https://host:8765``)."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.strip().rstrip("/")
        self.token = token
        self.user: dict[str, Any] | None = None
        self._client = client or httpx.AsyncClient(
            base_url=self.base_url, transport=transport, timeout=TIMEOUT
        )
        self._slugs: dict[str, str] = {}

    @property
    def description(self) -> str:
        return self.base_url

    async def close(self) -> None:
        await self._client.aclose()

    # --- plumbing -------------------------------------------------------------------------

    async def _call(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = await self._client.request(
                method, path, json=json, params=params, headers=headers
            )
        except httpx.HTTPError as exc:
            raise RemoteError(f"Сервер {self.base_url} недоступен / unreachable: {exc}") from exc
        if response.status_code >= 400:
            self._raise(response)
        return response

    def _raise(self, response: httpx.Response) -> None:
        try:
            body = response.json()
        except ValueError:
            body = None
        detail = body.get("detail") if isinstance(body, dict) else None
        if not isinstance(detail, str):
            detail = response.text[:300] if detail is None else str(detail)
        status = response.status_code
        if status == 401:
            raise AuthError(f"Нет доступа / not authorised: {detail}", status, body)
        if status == 403:
            raise RemoteError(f"Недостаточно прав / forbidden: {detail}", status, body)
        problems = body.get("problems") if isinstance(body, dict) else None
        if problems:
            lines = "\n".join(str(p.get("message_ru") or p.get("message")) for p in problems[:10])
            detail = f"{detail}\n{lines}"
        raise RemoteError(detail, status, body)

    def _p(self, project: str) -> str:
        return "/projects/" + quote(self._slugs.get(project, project), safe="")

    def _f(self, project: str, funnel_id: int) -> str:
        return f"{self._p(project)}/funnels/{int(funnel_id)}"

    # --- session --------------------------------------------------------------------------

    async def login(self, login: str, password: str) -> str:
        """Exchange login + password for a session token (kept in ``self.token``)."""
        self.token = None
        data = (
            await self._call("POST", "/auth/login", json={"login": login, "password": password})
        ).json()
        self.token = str(data["token"])
        self.user = data.get("user")
        return self.token

    async def check(self) -> dict[str, Any]:
        """Who the token belongs to (AuthError if it is not valid)."""
        self.user = (await self._call("GET", "/auth/me")).json()
        return self.user

    async def logout(self) -> None:
        await self._call("POST", "/auth/logout")
        self.token = None

    # --- projects -------------------------------------------------------------------------

    async def list_projects(self) -> list[ProjectInfo]:
        rows = (await self._call("GET", "/projects")).json()
        self._slugs = {r["name"]: r["slug"] for r in rows}
        return [
            ProjectInfo(
                r["name"],
                r["slug"],
                f"{self.base_url} ({r['database_kind']})",
                r.get("timezone") or "Europe/Moscow",
            )
            for r in rows
        ]

    async def catalog(self, project: str) -> ProjectCatalog:
        p = self._p(project)
        channels = (await self._call("GET", f"{p}/channels")).json()
        tags = (await self._call("GET", f"{p}/tags")).json()
        products = (await self._call("GET", f"{p}/products")).json()
        funnels = (await self._call("GET", f"{p}/funnels")).json()
        enabled = [c for c in channels if c.get("enabled", True)]
        return ProjectCatalog(
            bots=[(c["role"], c["name"]) for c in enabled if c["kind"] == "bot" and c["role"]],
            manager_accounts={c["name"] for c in enabled if c["kind"] != "bot"},
            tags={t["name"] for t in tags},
            products={x["name"] for x in products},
            funnels={f["name"] for f in funnels},
        )

    # --- funnels --------------------------------------------------------------------------

    async def list_funnels(self, project: str) -> list[FunnelSummary]:
        rows = (await self._call("GET", f"{self._p(project)}/funnels")).json()
        return [
            FunnelSummary(
                r["id"],
                r["name"],
                r["folder"],
                r["draft_revision"],
                r["published_version"],
                _dt(r["updated_at"]),
            )
            for r in rows
        ]

    async def _funnel_id(self, project: str, name: str) -> int:
        for f in await self.list_funnels(project):
            if f.name == name:
                return f.id
        raise RemoteError(f"Нет робота «{name}» / no robot {name!r}", 404)

    async def load_draft(self, project: str, funnel_id: int) -> FunnelDraft:
        data = (await self._call("GET", self._f(project, funnel_id))).json()
        return FunnelDraft(
            data["id"], load_funnel(data["document"]), data["revision"], data["published_version"]
        )

    async def create_funnel(self, project: str, doc: FunnelDocument, by: str | None) -> int:
        response = await self._call(
            "POST", f"{self._p(project)}/funnels/import", json=funnel_to_dict(doc)
        )
        return int(response.json()["id"])

    async def save_draft(
        self, project: str, funnel_id: int, doc: FunnelDocument, revision: int, by: str | None
    ) -> int:
        try:
            response = await self._call(
                "PUT",
                self._f(project, funnel_id),
                json={"document": funnel_to_dict(doc), "revision": revision},
            )
        except RemoteError as exc:
            if exc.status == 409:
                body = exc.body if isinstance(exc.body, dict) else {}
                raise DraftConflictError(
                    doc.name, body.get("expected_revision"), body.get("current_revision")
                ) from exc
            raise
        return int(response.json()["revision"])

    async def validate(self, project: str, doc: FunnelDocument) -> list[Problem]:
        # The route validates a document against the project; any funnel id of the
        # project will do, the document's own if it is saved there.
        funnels = await self.list_funnels(project)
        if not funnels:
            return []
        target = next((f.id for f in funnels if f.name == doc.name), funnels[0].id)
        data = (
            await self._call(
                "POST", f"{self._f(project, target)}/validate", json=funnel_to_dict(doc)
            )
        ).json()
        return [problem_from_dict(p) for p in data["problems"]]

    async def publish(self, project: str, funnel_id: int, by: str | None) -> PublishOutcome:
        data = (await self._call("POST", f"{self._f(project, funnel_id)}/publish")).json()
        return PublishOutcome(
            data["version"],
            [problem_from_dict(p) for p in data["warnings"]],
            data["contacts_on_removed_nodes"],
        )

    async def delete_funnel(self, project: str, funnel_id: int) -> None:
        await self._call("DELETE", self._f(project, funnel_id))

    async def duplicate_funnel(self, project: str, funnel_name: str, by: str | None) -> int:
        funnel_id = await self._funnel_id(project, funnel_name)
        response = await self._call("POST", f"{self._f(project, funnel_id)}/duplicate")
        return int(response.json()["id"])

    async def plan_copy(self, source: str, funnel_name: str, target: str) -> CopyPlan:
        funnel_id = await self._funnel_id(source, funnel_name)
        data = (
            await self._call(
                "POST",
                f"{self._f(source, funnel_id)}/copy-plan",
                json={"target": self._slugs.get(target, target)},
            )
        ).json()
        return CopyPlan.model_validate(data["plan"])

    async def copy_funnel(
        self, source: str, funnel_name: str, target: str, by: str | None
    ) -> int | None:
        funnel_id = await self._funnel_id(source, funnel_name)
        data = (
            await self._call(
                "POST",
                f"{self._f(source, funnel_id)}/copy",
                json={"target": self._slugs.get(target, target)},
            )
        ).json()
        return data.get("funnel_id")

    # --- live figures, contacts, versions -------------------------------------------------

    async def node_counts(self, project: str, funnel_id: int) -> dict[str, tuple[int, int, int]]:
        data = (await self._call("GET", f"{self._f(project, funnel_id)}/stats")).json()
        return {k: (v["now"], v["entered"], v["passed"]) for k, v in data["nodes"].items()}

    async def contacts_on_node(
        self, project: str, funnel_id: int, node_id: str
    ) -> list[NodeContact]:
        path = f"{self._f(project, funnel_id)}/nodes/{quote(node_id, safe='')}/contacts"
        rows = (await self._call("GET", path)).json()
        return [NodeContact(**{**r, "since": _dt(r["since"])}) for r in rows]

    async def funnel_versions(self, project: str, funnel_id: int) -> list[VersionInfo]:
        rows = (await self._call("GET", f"{self._f(project, funnel_id)}/versions")).json()
        return [VersionInfo(r["version"], _dt(r["published_at"]), r["published_by"]) for r in rows]

    async def version_document(self, project: str, funnel_id: int, version: int) -> FunnelDocument:
        path = f"{self._f(project, funnel_id)}/versions/{int(version)}"
        return load_funnel((await self._call("GET", path)).json()["document"])

    # --- media (POST /projects/{p}/media) -----------------------------------------------------

    async def fetch_media(self, project: str, source: str) -> bytes:
        """The bytes of a stored ``media/<sha256>/<name>`` file (for previews)."""
        if not is_stored_source(source):
            raise BackendError(f"not a stored media file: {source}")
        _media, sha, name = source.split("/", 2)
        path = f"{self._p(project)}/media/{quote(sha, safe='')}/{quote(name, safe='')}"
        return (await self._call("GET", path)).content

    async def upload_media(
        self, project: str, path: Path, progress: Callable[[int, int], None] | None = None
    ) -> str:
        """Upload a local file to the project's media store; its ``media/…`` source.
        ``progress(sent, total)`` is called as the bytes go out."""
        path = Path(path)
        try:
            total = path.stat().st_size
        except OSError as exc:
            raise BackendError(f"Файл не прочитать / cannot read the file {path}: {exc}") from exc

        async def chunks() -> AsyncIterator[bytes]:
            sent = 0
            with path.open("rb") as handle:
                while chunk := handle.read(256 * 1024):
                    sent += len(chunk)
                    yield chunk
                    if progress is not None:
                        progress(sent, total)

        mime, _ = mimetypes.guess_type(path.name)
        headers = {
            "Content-Type": mime or "application/octet-stream",
            "Content-Length": str(total),
        }
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = await self._client.post(
                f"{self._p(project)}/media",
                params={"name": path.name},
                content=chunks(),
                headers=headers,
            )
        except httpx.HTTPError as exc:
            raise RemoteError(f"Сервер {self.base_url} недоступен / unreachable: {exc}") from exc
        if response.status_code >= 400:
            self._raise(response)
        return str(response.json()["source"])

    # --- staff panels (the API's JSON as it is) ---------------------------------------------

    async def search_contacts(
        self, project: str, q: str = "", tag: str | None = None
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": 100}
        if q.strip():
            params["q"] = q.strip()
        if tag:
            params["tag"] = tag
        rows: list[dict[str, Any]] = (
            await self._call("GET", f"{self._p(project)}/contacts", params=params)
        ).json()
        return rows

    async def contact_card(self, project: str, contact_id: int) -> dict[str, Any]:
        path = f"{self._p(project)}/contacts/{int(contact_id)}"
        card: dict[str, Any] = (await self._call("GET", path)).json()
        names = {f.id: f.name for f in await self.list_funnels(project)}
        for run in card.get("runs", []):
            run.setdefault("funnel", names.get(run.get("funnel_id"), str(run.get("funnel_id"))))
            run.setdefault("node", (run.get("node_id") or "")[:8])
        if card.get("links"):
            p = self._p(project)
            products = {
                r["id"]: r["name"] for r in (await self._call("GET", f"{p}/products")).json()
            }
            bots = {r["id"]: r["name"] for r in (await self._call("GET", f"{p}/channels")).json()}
            for link in card["links"]:
                link.setdefault("product", products.get(link.get("product_id")))
                link.setdefault("target_channel", bots.get(link.get("target_channel_id")))
        return card

    async def add_contact_tag(self, project: str, contact_id: int, tag: str, by: str) -> bool:
        path = f"{self._p(project)}/contacts/{int(contact_id)}/tags"
        return bool((await self._call("POST", path, json={"tag": tag})).json().get("changed"))

    async def remove_contact_tag(self, project: str, contact_id: int, tag: str, by: str) -> bool:
        path = f"{self._p(project)}/contacts/{int(contact_id)}/tags/{quote(tag, safe='')}"
        return bool((await self._call("DELETE", path)).json().get("changed"))

    async def move_run(self, project: str, run_id: int, node: str, by: str) -> None:
        path = f"{self._p(project)}/runs/{int(run_id)}/move"
        await self._call("POST", path, json={"node": node})

    async def stop_run(self, project: str, run_id: int, by: str) -> None:
        await self._call("POST", f"{self._p(project)}/runs/{int(run_id)}/stop", json={})

    async def restart_run(self, project: str, run_id: int, by: str) -> int | None:
        path = f"{self._p(project)}/runs/{int(run_id)}/restart"
        new: int | None = (await self._call("POST", path, json={})).json().get("new_run_id")
        return new

    async def rollback_preview(self, project: str, run_id: int) -> dict[str, Any]:
        path = f"{self._p(project)}/runs/{int(run_id)}/rollback"
        plan: dict[str, Any] = (await self._call("GET", path)).json()
        return plan

    async def rollback_apply(self, project: str, run_id: int, by: str) -> dict[str, Any]:
        path = f"{self._p(project)}/runs/{int(run_id)}/rollback"
        plan: dict[str, Any] = (await self._call("POST", path, json={})).json()
        return plan

    async def list_notifications(
        self, project: str, kind: str | None = None, resolved: bool | None = None
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": 1000}
        if kind:
            params["kind"] = kind
        if resolved is not None:
            params["resolved"] = "true" if resolved else "false"
        path = f"{self._p(project)}/notifications"
        rows: list[dict[str, Any]] = (await self._call("GET", path, params=params)).json()
        return rows

    async def unresolved_notifications(self, project: str) -> int:
        return len(await self.list_notifications(project, resolved=False))

    async def resolve_notification(
        self, project: str, notification_id: int, by: str
    ) -> dict[str, Any]:
        path = f"{self._p(project)}/notifications/{int(notification_id)}/resolve"
        row: dict[str, Any] = (await self._call("POST", path)).json()
        return row

    async def list_purchases(
        self,
        project: str,
        product: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": 1000}
        if product:
            params["product"] = product
        if since is not None:
            params["since"] = since.isoformat()
        if until is not None:
            params["until"] = until.isoformat()
        path = f"{self._p(project)}/purchases"
        rows: list[dict[str, Any]] = (await self._call("GET", path, params=params)).json()
        return rows

    async def list_products(self, project: str) -> list[str]:
        rows = (await self._call("GET", f"{self._p(project)}/products")).json()
        return sorted(str(r["name"]) for r in rows)

    async def daily_report(self, project: str, first: Any, last: Any) -> dict[str, Any]:
        params = {"from": first.isoformat(), "to": last.isoformat()}
        p = self._p(project)
        report: dict[str, Any] = (
            await self._call("GET", f"{p}/reports/daily", params=params)
        ).json()
        rows = (await self._call("GET", f"{p}/reports/messages", params=params)).json()["rows"]
        sent: dict[str, int] = {day["day"]: 0 for day in report["days"]}
        for row in rows:
            sent[row["day"]] = sent.get(row["day"], 0) + int(row["sent"])
        report["sent"] = sent
        return report

    async def messages_report(self, project: str, first: Any, last: Any) -> list[dict[str, Any]]:
        params = {"from": first.isoformat(), "to": last.isoformat()}
        path = f"{self._p(project)}/reports/messages"
        rows: list[dict[str, Any]] = (await self._call("GET", path, params=params)).json()["rows"]
        return rows

    async def audience_report(
        self, project: str, first: Any, last: Any, group: str = "day"
    ) -> list[dict[str, Any]]:
        params = {"from": first.isoformat(), "to": last.isoformat(), "group": group}
        path = f"{self._p(project)}/reports/audience"
        rows: list[dict[str, Any]] = (await self._call("GET", path, params=params)).json()["rows"]
        return rows

    async def audience_now(self, project: str) -> dict[str, Any]:
        out: dict[str, Any] = (await self._call("GET", f"{self._p(project)}/reports/bots")).json()
        return out

    async def list_bots(self, project: str) -> list[dict[str, Any]]:
        rows = (await self._call("GET", f"{self._p(project)}/channels")).json()
        return [r for r in rows if r.get("kind") == "bot"]

    async def preview_broadcast(self, project: str, segment: dict[str, Any]) -> int:
        path = f"{self._p(project)}/broadcasts/preview"
        return int((await self._call("POST", path, json=segment)).json()["count"])

    async def create_broadcast(self, project: str, data: dict[str, Any], by: str) -> dict[str, Any]:
        body = dict(data)
        if isinstance(body.get("scheduled_at"), datetime):
            body["scheduled_at"] = body["scheduled_at"].isoformat()
        path = f"{self._p(project)}/broadcasts"
        out: dict[str, Any] = (await self._call("POST", path, json=body)).json()
        return out

    async def list_broadcasts(self, project: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = (
            await self._call("GET", f"{self._p(project)}/broadcasts")
        ).json()
        return rows

    async def get_broadcast(self, project: str, broadcast_id: int) -> dict[str, Any]:
        path = f"{self._p(project)}/broadcasts/{int(broadcast_id)}"
        out: dict[str, Any] = (await self._call("GET", path)).json()
        return out

    async def send_broadcast(self, project: str, broadcast_id: int) -> dict[str, Any]:
        path = f"{self._p(project)}/broadcasts/{int(broadcast_id)}/send"
        out: dict[str, Any] = (await self._call("POST", path)).json()
        return out

    async def cancel_broadcast(self, project: str, broadcast_id: int, by: str) -> dict[str, Any]:
        path = f"{self._p(project)}/broadcasts/{int(broadcast_id)}/cancel"
        out: dict[str, Any] = (await self._call("POST", path)).json()
        return out

    # --- channels, manager login, project settings (engine/api/routes/channels.py) --------

    async def list_channels(self, project: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = (
            await self._call("GET", f"{self._p(project)}/channels")
        ).json()
        return rows

    async def add_bot(
        self,
        project: str,
        token: str,
        role: str,
        *,
        name: str | None = None,
        is_main: bool = False,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"token": token, "role": role, "is_main": is_main}
        if name:
            body["name"] = name
        out: dict[str, Any] = (
            await self._call("POST", f"{self._p(project)}/bots", json=body)
        ).json()
        return out

    async def update_channel(
        self,
        project: str,
        channel_id: int,
        *,
        name: str | None = None,
        role: str | None = None,
        enabled: bool | None = None,
        is_main: bool | None = None,
    ) -> dict[str, Any]:
        fields = {"name": name, "role": role, "enabled": enabled, "is_main": is_main}
        body = {k: v for k, v in fields.items() if v is not None}
        path = f"{self._p(project)}/channels/{int(channel_id)}"
        out: dict[str, Any] = (await self._call("PATCH", path, json=body)).json()
        return out

    async def delete_channel(self, project: str, channel_id: int) -> None:
        await self._call("DELETE", f"{self._p(project)}/channels/{int(channel_id)}")

    async def _login_step(self, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        """A login route; its 400/429 answers (``{detail, state, retry_after?}``) become a
        :class:`LoginBackendError` the wizard can stay on its step with."""
        try:
            out: dict[str, Any] = (await self._call("POST", path, json=body)).json()
        except RemoteError as exc:
            raise _login_error(exc) from exc
        return out

    async def begin_manager_login(
        self, project: str, *, name: str, phone: str, api_id: int | None, api_hash: str | None
    ) -> dict[str, Any]:
        body = {"name": name, "phone": phone, "api_id": api_id, "api_hash": api_hash}
        return await self._login_step(f"{self._p(project)}/managers/login", body)

    async def submit_login_code(self, project: str, login_id: str, code: str) -> dict[str, Any]:
        path = f"{self._p(project)}/managers/login/{quote(login_id, safe='')}/code"
        return await self._login_step(path, {"code": code})

    async def submit_login_password(
        self, project: str, login_id: str, password: str
    ) -> dict[str, Any]:
        path = f"{self._p(project)}/managers/login/{quote(login_id, safe='')}/password"
        return await self._login_step(path, {"password": password})

    async def cancel_manager_login(self, project: str, login_id: str) -> None:
        path = f"{self._p(project)}/managers/login/{quote(login_id, safe='')}"
        await self._call("DELETE", path)

    async def logout_manager(self, project: str, channel_id: int) -> None:
        await self._call("POST", f"{self._p(project)}/channels/{int(channel_id)}/logout")

    async def get_project_settings(self, project: str) -> dict[str, Any]:
        out: dict[str, Any] = (await self._call("GET", f"{self._p(project)}/settings")).json()
        return out

    async def get_notify_chat(self, project: str) -> dict[str, Any] | None:
        chat: dict[str, Any] | None = (await self.get_project_settings(project)).get("notify_chat")
        return chat

    async def set_notify_chat(
        self, project: str, chat_id: int | None, bot_id: int | None
    ) -> dict[str, Any] | None:
        body = {"notify_chat": None if chat_id is None else {"chat_id": chat_id, "bot_id": bot_id}}
        path = f"{self._p(project)}/settings"
        chat: dict[str, Any] | None = (
            (await self._call("PATCH", path, json=body)).json().get("notify_chat")
        )
        return chat

    async def list_stuck(self, project: str) -> list[dict[str, Any]]:
        path = f"{self._p(project)}/stuck"
        rows: list[dict[str, Any]] = (await self._call("GET", path, params={"limit": 1000})).json()
        return rows

    async def update_project_settings(
        self, project: str, *, timezone: str | None = None, manager_labels: bool | None = None
    ) -> dict[str, Any]:
        fields = {"timezone": timezone, "manager_labels": manager_labels}
        body = {k: v for k, v in fields.items() if v is not None}
        path = f"{self._p(project)}/settings"
        out: dict[str, Any] = (await self._call("PATCH", path, json=body)).json()
        return out

    # --- tags -----------------------------------------------------------------------------

    async def list_tags(self, project: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = (await self._call("GET", f"{self._p(project)}/tags")).json()
        return rows

    async def create_tag(
        self,
        project: str,
        name: str,
        *,
        colour: str | None = None,
        manager_label: str | None = None,
        is_key: bool = False,
    ) -> dict[str, Any]:
        body = {"name": name, "colour": colour, "manager_label": manager_label, "is_key": is_key}
        out: dict[str, Any] = (
            await self._call("POST", f"{self._p(project)}/tags", json=body)
        ).json()
        return out

    async def update_tag(self, project: str, tag_id: int, **fields: Any) -> dict[str, Any]:
        """Change ``colour`` / ``manager_label`` / ``is_key`` (None clears colour or label)."""
        path = f"{self._p(project)}/tags/{int(tag_id)}"
        out: dict[str, Any] = (await self._call("PATCH", path, json=fields)).json()
        return out


def _login_error(exc: RemoteError) -> BackendError:
    """A login route's error answer as :class:`LoginBackendError` (others unchanged)."""
    body = exc.body if isinstance(exc.body, dict) else {}
    detail = body.get("detail")
    if isinstance(detail, dict):  # an HTTPException carrying the whole payload
        body = {**body, **detail}
        detail = detail.get("detail") or detail.get("message")
    state = body.get("state")
    if state is None and exc.status not in (400, 429):
        return exc
    retry = body.get("retry_after")
    message = str(detail) if isinstance(detail, str) else str(exc)
    return LoginBackendError(
        message, str(state or "failed"), int(retry) if retry is not None else None
    )
