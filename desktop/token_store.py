"""Where the desktop keeps API tokens of engine servers between runs.

The OS keyring (``keyring`` package: macOS Keychain, Windows Credential Locker, Secret
Service) when it is installed and has a usable backend; otherwise a file encrypted with
Fernet, whose key sits next to it in a 0600 file under the user config directory. The
file fallback protects a token from casual reading and from backups of the tokens file
alone, not from someone who can read the whole profile.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

SERVICE = "voronka-desktop"


def config_dir() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("voronka", appauthor=False))


def _keyring() -> Any | None:
    """The keyring module when it has a real (not "fail"/"null") backend."""
    try:
        import keyring  # type: ignore[import-not-found, unused-ignore]
        from keyring.backends import fail  # type: ignore[import-not-found, unused-ignore]
    except Exception:
        return None
    try:
        backend = keyring.get_keyring()
    except Exception:
        return None
    if isinstance(backend, fail.Keyring) or "null" in type(backend).__module__.lower():
        return None
    return keyring


class TokenStore:
    """Tokens by server URL: ``get``, ``set``, ``delete``.

    ``directory`` holds the encrypted file and its key (the user config directory by
    default); ``use_keyring=False`` forces the file (tests).
    """

    def __init__(self, directory: Path | None = None, *, use_keyring: bool = True) -> None:
        self.directory = directory or config_dir()
        self._keyring = _keyring() if use_keyring else None

    @property
    def kind(self) -> str:
        return "keyring" if self._keyring is not None else "encrypted file"

    @property
    def key_file(self) -> Path:
        return self.directory / "token.key"

    @property
    def tokens_file(self) -> Path:
        return self.directory / "tokens.enc"

    # --- public ---------------------------------------------------------------------------

    def get(self, server: str) -> str | None:
        server = _norm(server)
        if self._keyring is not None:
            with contextlib.suppress(Exception):
                return self._keyring.get_password(SERVICE, server)  # type: ignore[no-any-return]
            return None
        return self._read().get(server)

    def set(self, server: str, token: str) -> None:
        server = _norm(server)
        if self._keyring is not None:
            try:
                self._keyring.set_password(SERVICE, server, token)
                return
            except Exception:  # a locked/absent keyring: fall back to the file
                self._keyring = None
        tokens = self._read()
        tokens[server] = token
        self._write(tokens)

    def delete(self, server: str) -> None:
        server = _norm(server)
        if self._keyring is not None:
            with contextlib.suppress(Exception):
                self._keyring.delete_password(SERVICE, server)
            return
        tokens = self._read()
        if tokens.pop(server, None) is not None:
            self._write(tokens)

    # --- the encrypted file ---------------------------------------------------------------

    def _fernet(self) -> Any:
        from cryptography.fernet import Fernet

        if not self.key_file.exists():
            self.directory.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                os.chmod(self.directory, 0o700)
            fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(Fernet.generate_key())
        return Fernet(self.key_file.read_bytes().strip())

    def _read(self) -> dict[str, str]:
        if not self.tokens_file.exists() or not self.key_file.exists():
            return {}
        from cryptography.fernet import InvalidToken

        try:
            plain = self._fernet().decrypt(self.tokens_file.read_bytes())
            data = json.loads(plain)
        except (InvalidToken, ValueError, OSError):
            return {}  # a new key or a damaged file: log in again
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _write(self, tokens: dict[str, str]) -> None:
        fernet = self._fernet()
        data = fernet.encrypt(json.dumps(tokens).encode())
        tmp = self.tokens_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, self.tokens_file)


def _norm(server: str) -> str:
    return server.strip().rstrip("/")
