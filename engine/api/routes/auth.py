"""Logging in, tokens, and the staff users themselves (admins only)."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from db.staff import MIN_PASSWORD_LENGTH, ApiToken, StaffRole, StaffUser
from engine.api.auth import AdminDep, CallerDep, require_role
from engine.api.state import api_state

router = APIRouter(tags=["auth"])
users = APIRouter(tags=["users"], dependencies=[Depends(require_role(StaffRole.ADMIN))])


class LoginIn(BaseModel):
    login: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    id: int
    login: str
    role: StaffRole
    projects: list[int] | None = Field(description="Project ids; null = all projects")
    disabled: bool
    created_at: datetime

    @classmethod
    def of(cls, user: StaffUser) -> UserOut:
        return cls(
            id=user.id,
            login=user.login,
            role=user.role,
            projects=None if user.projects is None else sorted(user.projects),
            disabled=user.disabled,
            created_at=user.created_at,
        )


class TokenOut(BaseModel):
    id: int
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        return cls(
            id=token.id,
            name=token.name,
            created_at=token.created_at,
            expires_at=token.expires_at,
            last_used_at=token.last_used_at,
            revoked_at=token.revoked_at,
        )


class NewTokenOut(BaseModel):
    token: str = Field(description="Shown once: store it, it cannot be read again")
    info: TokenOut
    user: UserOut


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


@router.post(
    "/auth/login",
    response_model=NewTokenOut,
    responses={
        401: {"description": "Wrong login or password"},
        429: {"description": "Too many failures"},
    },
)
async def login(body: LoginIn, request: Request) -> NewTokenOut:
    """Exchange login + password for a session token (expires; see TokenOut.expires_at)."""
    state = api_state(request)
    client = _client(request)
    wait = state.limiter.retry_after(body.login, client)
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"too many failed logins; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    user = await state.staff.authenticate(body.login, body.password)
    if user is None:
        state.limiter.failed(body.login, client)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="wrong login or password")
    state.limiter.succeeded(body.login, client)
    plain, token = await state.staff.issue_token(user.id, "session", ttl=state.session_ttl)
    return NewTokenOut(token=plain, info=TokenOut.of(token), user=UserOut.of(user))


@router.post("/auth/logout", status_code=204)
async def logout(caller: CallerDep, request: Request) -> Response:
    """Revoke the token used for this call."""
    await api_state(request).staff.revoke_token(caller.user.id, caller.token.id)
    return Response(status_code=204)


@router.get("/auth/me", response_model=UserOut)
async def me(caller: CallerDep) -> UserOut:
    return UserOut.of(caller.user)


@router.get("/auth/tokens", response_model=list[TokenOut])
async def list_tokens(caller: CallerDep, request: Request) -> list[TokenOut]:
    return [TokenOut.of(t) for t in await api_state(request).staff.list_tokens(caller.user.id)]


@router.post("/auth/tokens", response_model=NewTokenOut, status_code=201)
async def create_token(body: TokenIn, caller: CallerDep, request: Request) -> NewTokenOut:
    """A named token of your own (for scripts or a remembered desktop); shown once."""
    ttl = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    plain, token = await api_state(request).staff.issue_token(caller.user.id, body.name, ttl=ttl)
    return NewTokenOut(token=plain, info=TokenOut.of(token), user=UserOut.of(caller.user))


@router.delete("/auth/tokens/{token_id}", status_code=204)
async def revoke_token(token_id: int, caller: CallerDep, request: Request) -> Response:
    if not await api_state(request).staff.revoke_token(caller.user.id, token_id):
        raise HTTPException(404, detail=f"you have no live token {token_id}")
    return Response(status_code=204)


# --- users (admin) ----------------------------------------------------------------------


class UserIn(BaseModel):
    login: str = Field(min_length=1, max_length=64, pattern=r"^\S+$")
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=1024)
    role: StaffRole
    projects: list[int] | None = Field(default=None, description="Project ids; null = all")


class UserPatch(BaseModel):
    role: StaffRole | None = None
    password: str | None = Field(default=None, min_length=MIN_PASSWORD_LENGTH, max_length=1024)
    projects: list[int] | None = Field(
        default=None, description="Project ids; send null explicitly for all projects"
    )
    disabled: bool | None = None


@users.get("/users", response_model=list[UserOut])
async def list_users(request: Request) -> list[UserOut]:
    return [UserOut.of(u) for u in await api_state(request).staff.list_users()]


@users.post("/users", response_model=UserOut, status_code=201)
async def create_user(body: UserIn, request: Request) -> UserOut:
    user = await api_state(request).staff.create_user(
        body.login, body.password, body.role, None if body.projects is None else set(body.projects)
    )
    return UserOut.of(user)


@users.patch("/users/{login}", response_model=UserOut)
async def update_user(login: str, body: UserPatch, request: Request, caller: AdminDep) -> UserOut:
    staff = api_state(request).staff
    demoting = (body.role not in (None, StaffRole.ADMIN)) or body.disabled
    if demoting and login.casefold() == caller.login.casefold():
        raise HTTPException(409, detail="you cannot demote or disable yourself")
    user = await staff.update_user(
        login,
        role=body.role,
        password=body.password,
        disabled=body.disabled,
        projects=(
            ...
            if "projects" not in body.model_fields_set
            else (None if body.projects is None else set(body.projects))
        ),
    )
    return UserOut.of(user)


@users.delete("/users/{login}", status_code=204)
async def delete_user(login: str, request: Request, caller: AdminDep) -> Response:
    if login.casefold() == caller.login.casefold():
        raise HTTPException(409, detail="you cannot delete yourself")
    await api_state(request).staff.delete_user(login)
    return Response(status_code=204)
