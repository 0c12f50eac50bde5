"""The local stack's scheduler invokes the app's registered scheduled handlers."""

from __future__ import annotations

from tests.integration.live_helpers import make_conversa


def test_the_scheduler_runs_the_registered_window_expiry_handler(db_clean):
    from chalicelib import db
    from chalicelib.local.scheduler import invoke_scheduled

    make_conversa(window_seconds=-5)

    assert invoke_scheduled("handle_window_expiry") == {"handled": 1}
    assert db.scalar("SELECT count(*) FROM eventos WHERE tipo = 'janela_expirada'") == 1
