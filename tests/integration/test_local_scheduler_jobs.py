"""The local stack's scheduler invokes the app's registered scheduled handlers."""

from __future__ import annotations

from tests.integration.live_helpers import make_conversa, wait_until


def test_the_scheduler_runs_the_registered_window_expiry_handler(db_clean):
    from chalicelib import db
    from devstack.scheduler import invoke_scheduled

    make_conversa(window_seconds=-5)

    assert invoke_scheduled("handle_window_expiry")["handled"] == 1
    assert db.scalar("SELECT count(*) FROM eventos WHERE tipo = 'janela_expirada'") == 1


def test_the_stack_component_runs_both_jobs_on_their_intervals(db_clean, monkeypatch):
    """What `make run` starts: template sync and window expiry, each through its Lambda handler."""
    from types import SimpleNamespace

    from chalicelib import db
    from chalicelib.config import reset_settings
    from chalicelib.whatsapp.graph import reset_graph_client
    from devstack.fake_graph import FakeGraph
    from devstack.scheduler import SchedulerComponent

    make_conversa(window_seconds=-5)
    with FakeGraph() as graph:
        graph.set_templates(
            [{"id": "9001", "name": "boas_vindas", "language": "pt_BR", "status": "APPROVED",
              "category": "UTILITY", "components": [{"type": "BODY", "text": "Olá {{1}}"}]}]
        )  # fmt: skip
        monkeypatch.setenv("WHATSAPP_GRAPH_URL", graph.base_url)
        monkeypatch.setenv("LOCAL_TEMPLATE_SYNC_SECONDS", "0.2")
        monkeypatch.setenv("LOCAL_WINDOW_EXPIRY_SECONDS", "0.2")
        reset_settings()
        reset_graph_client()
        component = SchedulerComponent(SimpleNamespace(ephemeral=True))
        assert [(j.name, j.interval) for j in component.scheduler.jobs] == [
            ("handle_template_sync", 0.2),
            ("handle_window_expiry", 0.2),
        ]
        component.start()
        try:
            assert wait_until(lambda: all(j.runs >= 2 for j in component.scheduler.jobs), timeout=10)
        finally:
            component.stop()
            monkeypatch.undo()
            reset_settings()
            reset_graph_client()
    assert [j.last_error for j in component.scheduler.jobs] == [None, None]
    assert db.scalar("SELECT whatsapp_id FROM templates WHERE name = 'boas_vindas'") == "9001"
    assert db.scalar("SELECT count(*) FROM eventos WHERE tipo = 'janela_expirada'") == 1  # twice run, once handled
