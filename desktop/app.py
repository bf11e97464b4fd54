"""Starting the desktop app: Qt + qasync event loop, the embedded engine, the main window.

With no server configured the app opens the local workspace (SQLite), creating the demo
project on first start, so a new user sees a working funnel at once. "Connect to server…"
(or ``args.server``, when the entry point passes one) switches the window to an engine
server over its HTTP API, with the token stored for that server (OS keyring or an
encrypted file, see ``desktop/token_store.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys


def run_app(args: argparse.Namespace) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    from qasync import QEventLoop

    from desktop import i18n, qt_compat

    qt_compat.apply()
    if getattr(args, "lang", None):
        i18n.set_language(args.lang)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Voronka")
    app.setApplicationDisplayName("Воронка")
    app.setQuitOnLastWindowClosed(False)  # the loop ends when start() returns
    loop = QEventLoop(app)
    asyncio.set_event_loop(loop)

    async def start() -> int:
        from db.workspace import resolve_workspace_dir
        from desktop.main_window import MainWindow
        from engine.daemon import EngineDaemon
        from engine.demo_setup import ensure_demo_project
        from engine.service import WorkspaceService

        service = await WorkspaceService.open(str(resolve_workspace_dir(args.workspace)))
        await ensure_demo_project(service.workspace)
        # The embedded engine: the same daemon as on a server, minus the HTTP endpoint —
        # bots with tokens, manager accounts, timers, the outbox and scheduled broadcasts
        # run while the app is open; staff actions use its engines (and their locks).
        daemon = EngineDaemon(service)
        await daemon.start()  # also makes staff operations use its engines
        window = MainWindow(service)
        window.show()
        await window.load()
        server = getattr(args, "server", None)
        if server:
            window.run(window.reconnect(server))
        closed = asyncio.Event()
        window.closed.connect(closed.set)
        screenshot = getattr(args, "screenshot", None)
        quit_after = getattr(args, "quit_after", None)
        if screenshot:
            await asyncio.sleep(0.3)
            window.show_start()
            await asyncio.sleep(0.1)
            window.grab().save(screenshot)
            window.close()
        elif quit_after is not None:
            QTimer.singleShot(int(quit_after * 1000), window.close)
        await closed.wait()
        if window.backend.description != "embedded":
            await window.backend.close()
        await daemon.stop()
        await service.close()
        return 0

    with loop:
        code = loop.run_until_complete(start())
    return code
