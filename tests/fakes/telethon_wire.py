"""Telegram behind Telethon's request boundary, for offline tests of user-account code.

A real :class:`telethon.TelegramClient` is built with a locally generated
:class:`~telethon.sessions.StringSession` (a random auth key, a 127.0.0.1 address) and its
network sender — ``client._sender``, Telethon's ``MTProtoSender`` — is replaced by a
:class:`WireSender`. Everything above it is real Telethon: ``client.connect()``, request
resolution, flood-wait handling, the update ``MessageBox`` (pts and gaps), the event
builders and the dispatch to handlers. The sender answers each TL request from a
:class:`FakeTelegramAccount` (one Telegram account's server-side state: its user, its
contacts, message ids, pts, dialogs, login and 2FA password) with real ``telethon.tl.types``
objects, and records every request in ``account.requests``.

Server pushes go where ``MTProtoSender`` puts them (``client._updates_queue``), and results
carrying updates are stored with the real ``MTProtoSender._store_own_updates`` (so the
client's own sends are processed but never dispatched, as on the wire).

No socket is ever opened: ``WireSender.connect`` ignores the connection object it is given.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import inspect
import itertools
import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from telethon import TelegramClient, errors, functions, types
from telethon import password as tl_password
from telethon.crypto import AuthKey
from telethon.network.mtprotosender import MTProtoSender
from telethon.sessions import StringSession
from telethon.tl.tlobject import TLRequest

API_ID = 12345
API_HASH = "0123456789abcdef0123456789abcdef"
LOCAL_DC = (2, "127.0.0.1", 443)

# The private pieces of Telethon this module relies on (checked by a guard test).
CLIENT_PRIVATE_ATTRS = ("_sender", "_updates_queue")
SENDER_METHODS = (
    "connect",
    "disconnect",
    "is_connected",
    "send",
    "disconnected",
    "_transport_connected",
    "_keepalive_ping",
    "_store_own_updates",
)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def make_session_string(dc: tuple[int, str, int] = LOCAL_DC, *, authorized: bool = True) -> str:
    """A StringSession string with a random 2048-bit auth key pointing at 127.0.0.1."""
    session = StringSession()
    session.set_dc(*dc)
    if authorized:
        session.auth_key = AuthKey(os.urandom(256))
    return session.save() if authorized else ""


def rpc_error(request: TLRequest | None, code: int, message: str) -> Exception:
    """The exception Telethon raises for an RPC error, built exactly as the sender does."""
    return errors.rpc_message_to_error(types.RpcError(code, message), request)


@dataclass
class _Fault:
    request_type: type[TLRequest] | None
    error: Callable[[TLRequest], BaseException]
    apply: bool  # process the request anyway (the answer is lost on the way back)


@dataclass
class FakeTelegramAccount:
    """The server side of one Telegram account, as its session sees it."""

    me: types.User
    users: dict[int, types.User] = field(default_factory=dict)
    chats: dict[int, types.Chat] = field(default_factory=dict)
    authorized: bool = True  # False: the auth key is unknown/revoked (AUTH_KEY_UNREGISTERED)
    api_id_valid: bool = True
    login_code: str = "12345"
    password: str | None = None  # 2FA cloud password
    password_hint: str = ""
    requests: list[TLRequest] = field(default_factory=list)
    pts: int = 100
    seq: int = 0
    _message_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1001))
    history: list[tuple[int, types.Message]] = field(default_factory=list)  # (pts, message)
    faults: deque[_Fault] = field(default_factory=deque)
    clients: list[TelegramClient] = field(default_factory=list)
    logged_out: bool = False
    _srp: dict[str, Any] = field(default_factory=dict)

    # --- set up --------------------------------------------------------------------------

    @classmethod
    def create(
        cls, user_id: int = 500, first_name: str = "Мария", **kwargs: Any
    ) -> FakeTelegramAccount:
        me = types.User(
            id=user_id,
            is_self=True,
            access_hash=user_id * 7 + 1,
            first_name=first_name,
            username=f"manager{user_id}",
            phone="79990000000",
        )
        return cls(me=me, **kwargs)

    def add_user(
        self,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        *,
        bot: bool = False,
    ) -> types.User:
        user = types.User(
            id=user_id,
            access_hash=user_id * 31 + 7,
            first_name=first_name,
            last_name=last_name,
            username=username,
            bot=bot,
            lang_code="ru",
        )
        self.users[user_id] = user
        return user

    def add_group(self, chat_id: int, title: str) -> types.Chat:
        chat = types.Chat(
            id=chat_id,
            title=title,
            photo=types.ChatPhotoEmpty(),
            participants_count=3,
            date=now(),
            version=1,
        )
        self.chats[chat_id] = chat
        return chat

    def client(self, session: str | None = None, **client_kwargs: Any) -> TelegramClient:
        """A real TelegramClient for this account, wired to the fake instead of the network."""
        string = make_session_string() if session is None else session
        client = TelegramClient(StringSession(string), API_ID, API_HASH, **client_kwargs)
        install(client, self)
        return client

    def client_factory(self) -> Callable[..., TelegramClient]:
        """A factory with TelegramClient's signature whose clients are wired to this account
        (what the code under test gets instead of ``TelegramClient``)."""

        def factory(session: Any, api_id: int, api_hash: str, **kwargs: Any) -> TelegramClient:
            client = TelegramClient(session, api_id, api_hash, **kwargs)
            install(client, self)
            return client

        return factory

    def fail_next(
        self,
        request_type: type[TLRequest] | None,
        error: Callable[[TLRequest], BaseException] | BaseException | tuple[int, str],
        *,
        apply: bool = False,
    ) -> None:
        """The next request of ``request_type`` (any request if None) fails with ``error``:
        an exception, a factory taking the request, or ``(code, "RPC_MESSAGE")`` for an RPC
        error built as Telethon's sender builds it. With ``apply`` the server processes the
        request first (the answer is lost)."""
        if isinstance(error, tuple):
            code, message = error
            factory: Callable[[TLRequest], BaseException] = lambda r: rpc_error(r, code, message)  # noqa: E731
        elif isinstance(error, BaseException):
            exc = error
            factory = lambda r: exc  # noqa: E731
        else:
            factory = error
        self.faults.append(_Fault(request_type, factory, apply))

    # --- what the server pushes ---------------------------------------------------------

    def push(self, updates: types.TypeUpdates) -> None:
        """Deliver ``updates`` to every connected client (as ``MTProtoSender._handle_update``)."""
        for client in self.clients:
            if client.is_connected():
                client._updates_queue.put_nowait(updates)

    def _next_message(
        self,
        peer: types.TypePeer,
        text: str,
        *,
        out: bool,
        from_id: types.TypePeer | None = None,
        media: types.TypeMessageMedia | None = None,
        entities: list[types.TypeMessageEntity] | None = None,
    ) -> tuple[types.Message, int]:
        self.pts += 1
        message = types.Message(
            id=next(self._message_ids),
            peer_id=peer,
            date=now(),
            message=text,
            out=out,
            from_id=from_id,
            media=media,
            entities=entities,
        )
        self.history.append((self.pts, message))
        return message, self.pts

    def manager_writes_elsewhere(self, contact_id: int, text: str) -> types.UpdateShortMessage:
        """The manager typed ``text`` to the contact on their phone: the session gets the
        short form Telegram uses for a private message (``out=True``)."""
        message, pts = self._next_message(types.PeerUser(contact_id), text, out=True)
        update = types.UpdateShortMessage(
            id=message.id,
            user_id=contact_id,
            message=text,
            pts=pts,
            pts_count=1,
            date=message.date,
            out=True,
        )
        self.push(update)
        return update

    def contact_writes(
        self, contact_id: int, text: str, *, short: bool = False
    ) -> types.TypeUpdates:
        """The contact wrote to the manager: ``Updates`` with the sender's user (as Telegram
        sends when the client may not know the user), or ``UpdateShortMessage``."""
        message, pts = self._next_message(types.PeerUser(contact_id), text, out=False, from_id=None)
        updates: types.TypeUpdates
        if short:
            updates = types.UpdateShortMessage(
                id=message.id,
                user_id=contact_id,
                message=text,
                pts=pts,
                pts_count=1,
                date=message.date,
            )
        else:
            updates = types.Updates(
                updates=[types.UpdateNewMessage(message=message, pts=pts, pts_count=1)],
                users=[self.users[contact_id]],
                chats=[],
                date=message.date,
                seq=0,
            )
        self.push(updates)
        return updates

    def manager_writes_full(self, contact_id: int, text: str) -> types.Updates:
        """An outgoing private message in the full form (``UpdateNewMessage``, with users)."""
        message, pts = self._next_message(
            types.PeerUser(contact_id), text, out=True, from_id=types.PeerUser(self.me.id)
        )
        updates = types.Updates(
            updates=[types.UpdateNewMessage(message=message, pts=pts, pts_count=1)],
            users=[self.users[contact_id], self.me],
            chats=[],
            date=message.date,
            seq=0,
        )
        self.push(updates)
        return updates

    def group_message(
        self, chat_id: int, from_user: int, text: str, *, out: bool = False
    ) -> types.UpdateShortChatMessage:
        message, pts = self._next_message(
            types.PeerChat(chat_id), text, out=out, from_id=types.PeerUser(from_user)
        )
        update = types.UpdateShortChatMessage(
            id=message.id,
            from_id=from_user,
            chat_id=chat_id,
            message=text,
            pts=pts,
            pts_count=1,
            date=message.date,
            out=out,
        )
        self.push(update)
        return update

    def revoke(self) -> None:
        """The manager terminated this session from another device."""
        self.authorized = False

    # --- answering requests -------------------------------------------------------------

    def sent_messages(self) -> list[functions.messages.SendMessageRequest]:
        return [r for r in self.requests if isinstance(r, functions.messages.SendMessageRequest)]

    def requests_of(self, request_type: type[TLRequest]) -> list[Any]:
        return [r for r in self.requests if isinstance(r, request_type)]

    def handle(self, request: TLRequest) -> Any:
        self.requests.append(request)
        fault = self._take_fault(request)
        if fault is not None and not fault.apply:
            raise fault.error(request)
        result = self._answer(request)
        if fault is not None:
            raise fault.error(request)
        return result

    def _take_fault(self, request: TLRequest) -> _Fault | None:
        inner = _unwrap(request)
        for fault in self.faults:
            if fault.request_type is None or isinstance(inner, fault.request_type):
                self.faults.remove(fault)
                return fault
        return None

    def _answer(self, request: TLRequest) -> Any:
        if isinstance(request, functions.InvokeWithLayerRequest):
            if not self.api_id_valid:
                raise rpc_error(request, 400, "API_ID_INVALID")
            return self._answer(_unwrap(request))
        if isinstance(request, functions.InvokeWithoutUpdatesRequest):
            return self._answer(request.query)
        if isinstance(request, functions.help.GetConfigRequest):
            return _zero_config()
        handler = getattr(self, "_on_" + type(request).__name__, None)
        if handler is None:
            raise NotImplementedError(
                f"the fake Telegram has no answer for {type(request).__name__}"
            )
        pre_login = type(request).__module__.endswith(".auth") or isinstance(
            request,
            functions.account.GetPasswordRequest,  # the 2FA step of a login
        )
        if not self.authorized and not pre_login:
            raise rpc_error(request, 401, "AUTH_KEY_UNREGISTERED")
        return handler(request)

    def _user(self, input_user: Any) -> types.User:
        if isinstance(input_user, (types.InputUserSelf, types.InputPeerSelf)):
            return self.me
        user_id = input_user.user_id
        user = self.users.get(user_id)
        if user is None or input_user.access_hash != user.access_hash:
            raise rpc_error(None, 400, "PEER_ID_INVALID")
        return user

    def _on_GetUsersRequest(self, request: functions.users.GetUsersRequest) -> list[types.User]:
        """Users the caller may see; like Telegram, a user asked for without an access hash
        (``access_hash=0``) is left out unless they are in the account's contacts."""
        found = []
        for input_user in request.id:
            if isinstance(input_user, types.InputUser) and input_user.access_hash == 0:
                user = self.users.get(input_user.user_id)
                if user is not None and user.contact:
                    found.append(user)
                continue
            found.append(self._user(input_user))
        return found

    def _on_GetStateRequest(self, request: Any) -> types.updates.State:
        return types.updates.State(pts=self.pts, qts=0, date=now(), seq=self.seq, unread_count=0)

    def _on_GetDifferenceRequest(self, request: functions.updates.GetDifferenceRequest) -> Any:
        new = [m for pts, m in self.history if pts > request.pts]
        if not new:
            return types.updates.DifferenceEmpty(date=now(), seq=self.seq)
        state = types.updates.State(pts=self.pts, qts=0, date=now(), seq=self.seq, unread_count=0)
        return types.updates.Difference(
            new_messages=new,
            new_encrypted_messages=[],
            other_updates=[],
            chats=list(self.chats.values()),
            users=[self.me, *self.users.values()],
            state=state,
        )

    def _peer_id(self, peer: Any) -> types.TypePeer:
        if isinstance(peer, types.InputPeerUser):
            self._user(types.InputUser(peer.user_id, peer.access_hash))
            return types.PeerUser(peer.user_id)
        if isinstance(peer, types.InputPeerChat) and peer.chat_id in self.chats:
            return types.PeerChat(peer.chat_id)
        raise rpc_error(None, 400, "PEER_ID_INVALID")

    def _on_SendMessageRequest(
        self, request: functions.messages.SendMessageRequest
    ) -> types.UpdateShortSentMessage:
        peer = self._peer_id(request.peer)
        message, pts = self._next_message(
            peer,
            request.message,
            out=True,
            from_id=types.PeerUser(self.me.id),
            entities=request.entities,
        )
        return types.UpdateShortSentMessage(
            id=message.id,
            pts=pts,
            pts_count=1,
            date=message.date,
            out=True,
            entities=request.entities,
        )

    def _on_SendMediaRequest(self, request: functions.messages.SendMediaRequest) -> types.Updates:
        peer = self._peer_id(request.peer)
        media = types.MessageMediaPhoto(photo=types.PhotoEmpty(id=7))
        message, pts = self._next_message(
            peer,
            request.message,
            out=True,
            from_id=types.PeerUser(self.me.id),
            media=media,
            entities=request.entities,
        )
        return types.Updates(
            updates=[
                types.UpdateMessageID(id=message.id, random_id=request.random_id),
                types.UpdateNewMessage(message=message, pts=pts, pts_count=1),
            ],
            users=[self.me],
            chats=[],
            date=message.date,
            seq=0,
        )

    def _on_SaveFilePartRequest(self, request: Any) -> bool:
        return True

    def _on_SaveBigFilePartRequest(self, request: Any) -> bool:
        return True

    def _on_AddContactRequest(self, request: functions.contacts.AddContactRequest) -> types.Updates:
        user = self._user(request.id)
        renamed = types.User(
            id=user.id,
            access_hash=user.access_hash,
            first_name=request.first_name,
            last_name=request.last_name or None,
            username=user.username,
            contact=True,
            lang_code=user.lang_code,
        )
        self.users[user.id] = renamed
        return types.Updates(
            updates=[
                types.UpdatePeerSettings(
                    peer=types.PeerUser(user.id), settings=types.PeerSettings()
                )
            ],
            users=[renamed],
            chats=[],
            date=now(),
            seq=0,
        )

    def _on_GetDialogsRequest(self, request: Any) -> types.messages.Dialogs:
        """Every known user is a dialog (the account has talked to them before); the top
        message is the newest one in ``history`` or an old one from before the test."""
        last: dict[int, types.Message] = {
            uid: types.Message(
                id=uid % 1000, peer_id=types.PeerUser(uid), date=now(), message="…", out=False
            )
            for uid in self.users
        }
        for _, message in self.history:
            if isinstance(message.peer_id, types.PeerUser) and message.peer_id.user_id in last:
                last[message.peer_id.user_id] = message
        dialogs = [
            types.Dialog(
                peer=types.PeerUser(uid),
                top_message=m.id,
                read_inbox_max_id=m.id,
                read_outbox_max_id=m.id,
                unread_count=0,
                unread_mentions_count=0,
                unread_reactions_count=0,
                unread_poll_votes_count=0,
                notify_settings=types.PeerNotifySettings(),
            )
            for uid, m in last.items()
        ]
        return types.messages.Dialogs(
            dialogs=dialogs, messages=list(last.values()), chats=[], users=list(self.users.values())
        )

    # login ---------------------------------------------------------------------------

    def _on_SendCodeRequest(self, request: functions.auth.SendCodeRequest) -> types.auth.SentCode:
        if request.api_id != API_ID or request.api_hash != API_HASH or not self.api_id_valid:
            raise rpc_error(request, 400, "API_ID_INVALID")
        if request.phone_number.lstrip("+") != (self.me.phone or ""):
            raise rpc_error(request, 400, "PHONE_NUMBER_INVALID")
        return types.auth.SentCode(
            type=types.auth.SentCodeTypeApp(length=len(self.login_code)),
            phone_code_hash="hash-" + hashlib.sha1(request.phone_number.encode()).hexdigest()[:8],
        )

    def _on_SignInRequest(self, request: functions.auth.SignInRequest) -> types.auth.Authorization:
        if request.phone_code != self.login_code:
            raise rpc_error(request, 400, "PHONE_CODE_INVALID")
        if self.password is not None:
            raise rpc_error(request, 401, "SESSION_PASSWORD_NEEDED")
        return self._authorize()

    def _authorize(self) -> types.auth.Authorization:
        self.authorized = True
        self.logged_out = False
        return types.auth.Authorization(user=self.me)

    def _on_GetPasswordRequest(self, request: Any) -> types.account.Password:
        """SRP parameters (Telegram's 2048-bit prime, g = 3) for ``self.password``."""
        assert self.password is not None, "this account has no 2FA password"
        algo = types.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow(
            salt1=os.urandom(8), salt2=os.urandom(16), g=3, p=_TELEGRAM_PRIME
        )
        p = int.from_bytes(_TELEGRAM_PRIME, "big")
        x = int.from_bytes(tl_password.compute_hash(algo, self.password), "big")
        v = pow(3, x, p)
        k = int.from_bytes(
            tl_password.sha256(
                tl_password.num_bytes_for_hash(_TELEGRAM_PRIME), tl_password.big_num_for_hash(3)
            ),
            "big",
        )
        b = int.from_bytes(os.urandom(256), "big")
        big_b = (k * v + pow(3, b, p)) % p
        srp_id = int.from_bytes(os.urandom(7), "big")
        self._srp = {"id": srp_id, "b": b, "B": big_b, "v": v, "algo": algo}
        return types.account.Password(
            new_algo=types.PasswordKdfAlgoUnknown(),
            new_secure_algo=types.SecurePasswordKdfAlgoUnknown(),
            secure_random=os.urandom(32),
            has_password=True,
            current_algo=algo,
            srp_B=tl_password.big_num_for_hash(big_b),
            srp_id=srp_id,
            hint=self.password_hint,
        )

    def _on_CheckPasswordRequest(
        self, request: functions.auth.CheckPasswordRequest
    ) -> types.auth.Authorization:
        """Verifies the client's SRP proof M1 as the server does (S = (A·v^u)^b mod p)."""
        srp, check = self._srp, request.password
        if not srp or check.srp_id != srp["id"]:
            raise rpc_error(request, 400, "SRP_ID_INVALID")
        p = int.from_bytes(_TELEGRAM_PRIME, "big")
        sha = tl_password.sha256
        a_bytes = check.A
        b_bytes = tl_password.big_num_for_hash(srp["B"])
        u = int.from_bytes(sha(a_bytes, b_bytes), "big")
        s = pow(int.from_bytes(a_bytes, "big") * pow(srp["v"], u, p) % p, srp["b"], p)
        k_session = sha(tl_password.big_num_for_hash(s))
        p_hash = tl_password.num_bytes_for_hash(_TELEGRAM_PRIME)
        g_hash = tl_password.big_num_for_hash(3)
        expected = sha(
            tl_password.xor(sha(p_hash), sha(g_hash)),
            sha(srp["algo"].salt1),
            sha(srp["algo"].salt2),
            a_bytes,
            b_bytes,
            k_session,
        )
        self._srp = {}
        if expected != check.M1:
            raise rpc_error(request, 400, "PASSWORD_HASH_INVALID")
        return self._authorize()

    def _on_LogOutRequest(self, request: Any) -> types.auth.LoggedOut:
        self.authorized = False
        self.logged_out = True
        return types.auth.LoggedOut()


def _unwrap(request: Any) -> Any:
    while hasattr(request, "query"):
        request = request.query
    return request


def _zero_config() -> types.Config:
    kwargs: dict[str, Any] = {}
    for name, param in inspect.signature(types.Config.__init__).parameters.items():
        if name == "self" or param.default is not inspect.Parameter.empty:
            continue
        annotation = str(param.annotation)
        kwargs[name] = (
            now()
            if "datetime" in annotation
            else []
            if "List" in annotation
            else False
            if "bool" in annotation
            else ""
            if "str" in annotation
            else 0
        )
    kwargs["this_dc"] = LOCAL_DC[0]
    return types.Config(**kwargs)


_TELEGRAM_PRIME = int(
    "C71CAEB9C6B1C9048E6C522F70F13F73980D40238E3E21C14934D037563D930F48198A0AA7C14058229493D22530F4DB"
    "FA336F6E0AC925139543AED44CCE7C3720FD51F69458705AC68CD4FE6B6B13ABDC9746512969328454F18FAF8C595F64"
    "2477FE96BB2A941D5BCD1D4AC8CC49880708FA9B378E3C4F3A9060BEE67CF9A4A4A695811051907E162753B56B0F6B41"
    "0DBA74D8A84B2A14B3144E0EF1284754FD17ED950D5965B4B9DD46582DB1178D169C6BC465B0D6FF9CA3928FEF5B9AE4"
    "E418FC15E83EBEA0F87FA9FF5EED70050DED2849F47BF959D956850CE929851F0D8115F635B105EE2E4E15D04B2454BF"
    "6F4FADF034B10403119CD8E3B92FCC5B",
    16,
).to_bytes(256, "big")


class WireSender:
    """Stands in for ``MTProtoSender``: same public surface, answers from the fake account."""

    # The real method: updates inside results are processed, never dispatched.
    _store_own_updates = MTProtoSender._store_own_updates

    def __init__(self, client: TelegramClient, account: FakeTelegramAccount) -> None:
        self._account = account
        self._updates_queue: asyncio.Queue[Any] = client._updates_queue
        self.auth_key = client.session.auth_key or AuthKey(None)
        self._user_connected = False
        self._disconnected_future: asyncio.Future[None] | None = None
        self._connection: Any = None
        self.connect_calls = 0

    async def connect(self, connection: Any) -> bool:
        # ``connection`` is Telethon's ConnectionTcpFull; it is never connected.
        if self._user_connected:
            return False
        self.connect_calls += 1
        self._connection = connection
        if not self.auth_key:  # Telethon would create a key with the server here
            self.auth_key.key = os.urandom(256)
        self._user_connected = True
        self._disconnected_future = asyncio.get_running_loop().create_future()
        return True

    def is_connected(self) -> bool:
        return self._user_connected

    def _transport_connected(self) -> bool:
        return False  # no pings from the keepalive loop

    def _keepalive_ping(self, rnd_id: int) -> None:  # pragma: no cover - never transport-connected
        pass

    async def disconnect(self) -> None:
        self._user_connected = False
        self._connection = None
        if self._disconnected_future is not None and not self._disconnected_future.done():
            self._disconnected_future.set_result(None)

    def drop(self, error: BaseException | None = None) -> None:
        """The connection died on its own (as after failed reconnects)."""
        self._user_connected = False
        if self._disconnected_future is not None and not self._disconnected_future.done():
            if error is None:
                self._disconnected_future.set_result(None)
            else:
                self._disconnected_future.set_exception(error)

    @property
    def disconnected(self) -> asyncio.Future[None]:
        if self._disconnected_future is None:
            self._disconnected_future = asyncio.get_running_loop().create_future()
            self._disconnected_future.set_result(None)
        return asyncio.shield(self._disconnected_future)

    def send(self, request: Any, ordered: bool = False) -> Any:
        if not self._user_connected:
            raise ConnectionError("Cannot send requests while disconnected")
        if isinstance(request, list):
            return [self.send(r) for r in request]
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        try:
            result = self._account.handle(request)
        except BaseException as exc:
            future.set_exception(exc)
        else:
            self._store_own_updates(result)
            future.set_result(result)
        return future


def install(client: TelegramClient, account: FakeTelegramAccount) -> WireSender:
    """Replace ``client._sender`` by a :class:`WireSender` answering from ``account``."""
    sender = WireSender(client, account)
    client._sender = sender
    account.clients.append(client)
    return sender


def sender_of(client: TelegramClient) -> WireSender:
    sender = client._sender
    assert isinstance(sender, WireSender), "this client is not wired to a fake account"
    return sender
