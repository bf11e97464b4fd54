"""Secrets at rest: bot tokens and Telethon sessions are Fernet-encrypted in the database.

The key comes from ``VORONKA_SECRET_KEY`` (one Fernet key, or several separated by commas
for rotation: the first encrypts, all decrypt) or else from ``<workspace>/secret.key``,
which is created on first use with mode 0600 and refused if group or others can read it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from db.errors import SecretDecryptionError, SecretKeyError

SECRET_KEY_ENV = "VORONKA_SECRET_KEY"
KEY_FILE_NAME = "secret.key"
KEY_FILE_MODE = 0o600


class SecretBox:
    """Encrypts and decrypts text; its repr shows neither the key nor any plaintext."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise SecretKeyError("no encryption key given")
        try:
            self._fernet = MultiFernet([Fernet(key) for key in keys])
        except (ValueError, TypeError) as exc:
            raise SecretKeyError(
                "malformed encryption key: expected 32 url-safe base64-encoded bytes "
                "(generate one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)"
            ) from exc

    @staticmethod
    def generate_key() -> bytes:
        return Fernet.generate_key()

    def encrypt(self, plaintext: str | SecretStr) -> str:
        """A Fernet token (ASCII text, safe for a Text column); randomised on every call."""
        if isinstance(plaintext, SecretStr):
            plaintext = plaintext.get_secret_value()
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str | bytes) -> SecretStr:
        """The plaintext wrapped in SecretStr (``.get_secret_value()``), so it never gets
        logged by accident."""
        raw = token.encode("ascii") if isinstance(token, str) else token
        try:
            return SecretStr(self._fernet.decrypt(raw).decode("utf-8"))
        except (InvalidToken, UnicodeError) as exc:
            raise SecretDecryptionError(
                "cannot decrypt a stored secret: wrong VORONKA_SECRET_KEY / secret.key, "
                "or the data was tampered with"
            ) from exc

    def rotate(self, token: str) -> str:
        """Re-encrypt a token under the primary (first) key."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken as exc:
            raise SecretDecryptionError("cannot re-encrypt a secret: no key decrypts it") from exc

    def __repr__(self) -> str:
        return "SecretBox(keys=<hidden>)"


def load_secret_box(workspace_dir: Path, *, environ: dict[str, str] | None = None) -> SecretBox:
    """The SecretBox of a workspace: keys from the environment, else from the key file."""
    env = os.environ if environ is None else environ
    from_env = env.get(SECRET_KEY_ENV, "").strip()
    if from_env:
        keys = [part.strip().encode("ascii") for part in from_env.split(",") if part.strip()]
        return SecretBox(keys)
    return SecretBox([read_or_create_key_file(workspace_dir / KEY_FILE_NAME)])


def read_or_create_key_file(path: Path) -> bytes:
    """Read the key file, creating it (mode 0600, exclusively) if it does not exist yet."""
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
    except FileExistsError:  # another process created it first: use theirs
        return _read_key_file(path)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    return key


def _read_key_file(path: Path) -> bytes:
    with path.open("rb") as handle:
        if os.name == "posix":
            mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
            if mode & 0o077:
                raise SecretKeyError(
                    f"key file {path} has permissions {mode:04o}; it must be readable by its "
                    f"owner only: run `chmod 600 {path}`"
                )
        key = handle.read().strip()
    if not key:
        raise SecretKeyError(f"key file {path} is empty")
    return key
