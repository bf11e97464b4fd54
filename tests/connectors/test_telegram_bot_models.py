"""aiogram's response models stay built for the life of the process.

aiogram validates every answer with ``Response[method.__returning__]``; pydantic keeps
such parametrised models only weakly, so without our references a garbage collection
makes the next send rebuild one (≈ 11 ms each, many times a minute under load).
"""

from __future__ import annotations

import gc
import weakref

from aiogram.methods.base import Response
from aiogram.types import Message

from connectors import telegram_bot


def test_response_models_survive_garbage_collection() -> None:
    telegram_bot._pin_response_models()
    model = weakref.ref(Response[Message])
    updates = weakref.ref(Response[telegram_bot._RawGetUpdates.__returning__])  # type: ignore[name-defined]
    gc.collect()  # built inside a function, pydantic alone would let them go here
    assert model() is not None and updates() is not None
    assert Response[Message] is model()
