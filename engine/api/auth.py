"""Bearer-token authentication, roles and per-project access for every route."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from db.project_database import ProjectDatabase
from db.staff import ApiToken, StaffRole, StaffUser
from db.workspace import Project
from engine.api.state import ApiState, api_state

ROLE_RANK = {StaffRole.VIEWER: 0, StaffRole.EDITOR: 1, StaffRole.ADMIN: 2}

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token from POST /auth/login or POST /auth/tokens",
)


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def forbidden(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail=detail)


@dataclass(frozen=True)
class Caller:
    user: StaffUser
    token: ApiToken

    @property
    def login(self) -> str:
        return self.user.login

    def has_role(self, role: StaffRole) -> bool:
        return ROLE_RANK[self.user.role] >= ROLE_RANK[role]


async def current_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    if credentials is None:
        raise unauthorized("authentication required: send 'Authorization: Bearer <token>'")
    found = await api_state(request).staff.resolve_token(credentials.credentials)
    if found is None:
        raise unauthorized("the token is invalid, expired or revoked; log in again")
    return Caller(*found)


def _role_check(caller: Caller, role: StaffRole) -> None:
    if not caller.has_role(role):
        raise forbidden(f"this needs the {role.value} role (you are {caller.user.role.value})")


def require_role(role: StaffRole):  # type: ignore[no-untyped-def]
    async def dependency(caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
        _role_check(caller, role)
        return caller

    return dependency


CallerDep = Annotated[Caller, Depends(current_caller)]
AdminDep = Annotated[Caller, Depends(require_role(StaffRole.ADMIN))]


@dataclass(frozen=True)
class ProjectCtx:
    """The project a route works on, checked against the caller's access and role."""

    project: Project
    caller: Caller
    state: ApiState

    @property
    def name(self) -> str:
        return self.project.name

    @property
    def actor(self) -> str:
        """The login, as the funnel store and flows expect it (they add "staff:")."""
        return self.caller.login

    async def db(self) -> ProjectDatabase:
        return await self.state.service.database(self.project)


async def open_project(state: ApiState, caller: Caller, name: str, role: StaffRole) -> Project:
    """The project called ``name`` if the caller may use it with ``role``; 403/404 otherwise.

    A user limited to some projects gets 403 for an unknown name too (names don't leak)."""
    project = await state.service.workspace.find_project(name)
    if project is None:
        if caller.user.projects is not None:
            raise forbidden(f"you have no access to project {name!r}")
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no project named {name!r}")
    if not caller.user.can_open(project.id):
        raise forbidden(f"you have no access to project {project.name!r}")
    _role_check(caller, role)
    return project


def project_access(role: StaffRole):  # type: ignore[no-untyped-def]
    async def dependency(
        request: Request,
        project: Annotated[str, Path(description="Project name or slug")],
        caller: Annotated[Caller, Depends(current_caller)],
    ) -> ProjectCtx:
        state = api_state(request)
        return ProjectCtx(await open_project(state, caller, project, role), caller, state)

    return dependency


Reader = Annotated[ProjectCtx, Depends(project_access(StaffRole.VIEWER))]
Editor = Annotated[ProjectCtx, Depends(project_access(StaffRole.EDITOR))]
ProjectAdmin = Annotated[ProjectCtx, Depends(project_access(StaffRole.ADMIN))]
