"""Channels of a project: adding bots, logging manager accounts in and out (phone → code →
2FA password), enabling/disabling/deleting channels, and the project's settings.

The work is done by :mod:`engine.channels_admin` through the service; tokens, sessions,
codes and passwords are never returned or logged. Writes need the admin role.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, SecretStr

from engine.admin_chat import CHAT_ID_LIMIT, NotifyChatError, notify_chat_info, set_notify_chat
from engine.api.auth import ProjectAdmin, ProjectCtx, Reader
from engine.channels_admin import (
    ChannelConflictError,
    ChannelError,
    ChannelInputError,
    ChannelNotFoundError,
    LoginFailed,
    TelegramUnavailableError,
)

router = APIRouter(tags=["channels"])

Role = Literal["open", "paid", "free", "other"]


class ChannelOut(BaseModel):
    id: int
    kind: Literal["bot", "manager_account"]
    name: str
    role: Role | None
    group_name: str
    username: str | None
    telegram_id: int | None
    enabled: bool
    is_main: bool
    has_credentials: bool = Field(description="Whether a token/session is stored (never shown)")
    needs_login: bool = Field(description="A manager account without a usable session")
    login_required_reason: str | None
    api_id: int | None


class BotIn(BaseModel):
    token: SecretStr = Field(description="Bot token from @BotFather (stored encrypted)")
    role: Role
    name: str | None = Field(None, min_length=1, max_length=100)
    is_main: bool = False


class ChannelPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=100)
    role: Role | None = None
    enabled: bool | None = None
    is_main: bool | None = None


class LoginIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    phone: str = Field(min_length=5, max_length=32)
    api_id: int | None = Field(None, gt=0, description="From my.telegram.org (default: env)")
    api_hash: SecretStr | None = Field(None, description="From my.telegram.org (default: env)")


class LoginStarted(BaseModel):
    login_id: str
    state: Literal["code_sent"]
    phone: str = Field(description="The phone, masked")


class CodeIn(BaseModel):
    code: str = Field(min_length=1, max_length=16)


class PasswordIn(BaseModel):
    password: SecretStr


class LoginStep(BaseModel):
    state: Literal["password_needed", "done"]
    hint: str | None = None
    channel: ChannelOut | None = None


class NotifyChatOut(BaseModel):
    chat_id: int = Field(description="The Telegram chat (group, channel, person) id")
    bot_id: int | None = Field(description="The bot that posts (null: the default one)")
    bot: str | None = Field(description="The name of the bot that posts (also the default)")
    error: str | None = Field(description="Why the last copy failed (retried with back-off)")
    error_at: datetime | None
    retry_at: datetime | None
    last_sent_at: datetime | None
    pending: int = Field(description="Notifications waiting to be copied")


class NotifyChatIn(BaseModel):
    chat_id: int = Field(
        gt=-CHAT_ID_LIMIT,
        lt=CHAT_ID_LIMIT,
        description="Telegram chat id: a group or channel (-100…) or a person; the bot must "
        "be a member (an admin of a channel)",
    )
    bot_id: int | None = Field(
        None, gt=0, description="The bot (channel id) that posts; default: the main bot"
    )


class SettingsOut(BaseModel):
    timezone: str
    manager_labels: bool = Field(description="R15: tag labels in the managers' contact names")
    notify_chat: NotifyChatOut | None = Field(
        None, description="R9: where notifications are copied in Telegram (null: nowhere)"
    )


class SettingsPatch(BaseModel):
    timezone: str | None = Field(None, min_length=1, max_length=64)
    manager_labels: bool | None = None
    notify_chat: NotifyChatIn | None = Field(
        None, description="R9: copy notifications to this Telegram chat; null stops copying"
    )


@router.post("/projects/{project}/bots", status_code=201, response_model=ChannelOut)
async def add_bot(body: BotIn, ctx: ProjectAdmin) -> ChannelOut:
    """Check the token with Telegram (getMe) and store it encrypted."""
    channel = await ctx.state.service.add_bot(
        ctx.project.name,
        body.token.get_secret_value(),
        body.role,
        name=body.name,
        is_main=body.is_main,
        by=ctx.actor,
    )
    return ChannelOut(**channel)


@router.patch("/projects/{project}/channels/{channel_id}", response_model=ChannelOut)
async def update_channel(channel_id: int, body: ChannelPatch, ctx: ProjectAdmin) -> ChannelOut:
    """Rename, change a bot's role, enable/disable, make main (R13)."""
    channel = await ctx.state.service.update_channel(
        ctx.project.name,
        channel_id,
        name=body.name,
        role=body.role,
        enabled=body.enabled,
        is_main=body.is_main,
    )
    return ChannelOut(**channel)


@router.delete("/projects/{project}/channels/{channel_id}", status_code=204)
async def delete_channel(channel_id: int, ctx: ProjectAdmin) -> Response:
    """Delete a channel and its secrets (409 while messages refer to it: disable it)."""
    await ctx.state.service.delete_channel(ctx.project.name, channel_id)
    return Response(status_code=204)


@router.post("/projects/{project}/channels/{channel_id}/logout", status_code=204)
async def logout_manager(channel_id: int, ctx: ProjectAdmin) -> Response:
    """End a manager account's session on Telegram (when reachable) and delete it here."""
    await ctx.state.service.logout_manager(ctx.project.name, channel_id)
    return Response(status_code=204)


@router.post("/projects/{project}/managers/login", status_code=201, response_model=LoginStarted)
async def begin_login(body: LoginIn, ctx: ProjectAdmin) -> LoginStarted:
    """Telegram sends a login code to the account; continue with ``…/code``."""
    started = await ctx.state.service.begin_manager_login(
        ctx.project.name,
        name=body.name,
        phone=body.phone,
        api_id=body.api_id,
        api_hash=body.api_hash.get_secret_value() if body.api_hash else None,
    )
    return LoginStarted(**started)


@router.post(
    "/projects/{project}/managers/login/{login_id}/code",
    response_model=LoginStep,
    response_model_exclude_none=True,
)
async def submit_code(login_id: str, body: CodeIn, ctx: ProjectAdmin) -> LoginStep:
    """``done`` with the channel, or ``password_needed`` (two-step verification)."""
    step = await ctx.state.service.submit_login_code(ctx.project.name, login_id, body.code)
    return _step(step)


@router.post(
    "/projects/{project}/managers/login/{login_id}/password",
    response_model=LoginStep,
    response_model_exclude_none=True,
)
async def submit_password(login_id: str, body: PasswordIn, ctx: ProjectAdmin) -> LoginStep:
    step = await ctx.state.service.submit_login_password(
        ctx.project.name, login_id, body.password.get_secret_value()
    )
    return _step(step)


@router.delete("/projects/{project}/managers/login/{login_id}", status_code=204)
async def cancel_login(login_id: str, ctx: ProjectAdmin) -> Response:
    await ctx.state.service.cancel_manager_login(ctx.project.name, login_id)
    return Response(status_code=204)


@router.get(
    "/projects/{project}/settings", response_model=SettingsOut, response_model_exclude_unset=True
)
async def get_settings(ctx: Reader) -> SettingsOut:
    """The project's settings; ``notify_chat`` only when notifications go to Telegram."""
    settings = await ctx.state.service.get_project_settings(ctx.project.name)
    return await _settings(ctx, settings)


@router.patch(
    "/projects/{project}/settings", response_model=SettingsOut, response_model_exclude_unset=True
)
async def update_settings(body: SettingsPatch, ctx: ProjectAdmin) -> SettingsOut:
    """Change what is given; ``notify_chat: null`` stops copying notifications to Telegram."""
    if "notify_chat" in body.model_fields_set:
        chat = body.notify_chat
        try:
            async with (await ctx.db()).sessions() as session, session.begin():
                await set_notify_chat(
                    session,
                    chat.chat_id if chat else None,
                    chat.bot_id if chat else None,
                )
        except NotifyChatError as exc:
            raise HTTPException(422, detail=f"notify_chat.{exc}") from None
    settings = await ctx.state.service.update_project_settings(
        ctx.project.name, timezone=body.timezone, manager_labels=body.manager_labels
    )
    return await _settings(ctx, settings)


async def _settings(ctx: ProjectCtx, settings: dict[str, object]) -> SettingsOut:
    async with (await ctx.db()).sessions() as session:
        info = await notify_chat_info(session)
    if info is None:
        return SettingsOut(**settings)  # type: ignore[arg-type]
    return SettingsOut(**settings, notify_chat=NotifyChatOut(**info))  # type: ignore[arg-type]


def _step(step: dict[str, object]) -> LoginStep:
    channel = step.get("channel")
    return LoginStep(
        state=step["state"],  # type: ignore[arg-type]
        hint=step.get("hint"),  # type: ignore[arg-type]
        channel=ChannelOut(**channel) if isinstance(channel, dict) else None,
    )


async def _channel_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, LoginFailed):
        body: dict[str, object] = {"detail": str(exc), "state": exc.state}
        if exc.retry_after is not None:
            body["retry_after"] = exc.retry_after
            return JSONResponse(
                body, status_code=429, headers={"Retry-After": str(exc.retry_after)}
            )
        return JSONResponse(body, status_code=400)
    status = 500
    if isinstance(exc, ChannelInputError):
        status = 422
    elif isinstance(exc, ChannelConflictError):
        status = 409
    elif isinstance(exc, ChannelNotFoundError):
        status = 404
    elif isinstance(exc, TelegramUnavailableError):
        status = 502
    return JSONResponse({"detail": str(exc)}, status_code=status)


def install(app: FastAPI) -> None:
    """Add the routes and the mapping of :class:`ChannelError` to HTTP answers."""
    app.add_exception_handler(ChannelError, _channel_error)
    app.include_router(router)
