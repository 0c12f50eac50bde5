"""Fixtures of the end-to-end tests: the system driven over real HTTP and WebSockets on
127.0.0.1 (the local stack or its parts, LocalStack, the console in Chromium).

`running_stack` (tests/e2e/stack_support.py) starts the whole local stack; each module's
`stack` fixture picks its options. The fixtures below are shared by several modules.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def gateway(db_clean, monkeypatch):
    """The local API Gateway for WebSockets on free ports, invoking the app's handlers; the
    app's management client pointed at it."""
    from chalicelib.config import reset_settings
    from chalicelib.services import realtime
    from devstack.ws_gateway import LocalWebSocketGateway

    gw = LocalWebSocketGateway().start()
    monkeypatch.setenv("WS_MANAGEMENT_URL", gw.management_url)
    reset_settings()
    realtime.reset_client()
    yield gw
    gw.stop()
    monkeypatch.delenv("WS_MANAGEMENT_URL")
    reset_settings()
    realtime.reset_client()
