"""The console in a real Chromium (Debian's, never a downloaded one) against the local stack.

One stack and one browser for the package; each test makes its own attendants and customers.
A browser that cannot start fails the tests: they never skip.
"""

from __future__ import annotations

import os
import re
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.e2e.stack_support import running_stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WEB_DIR = Path(__file__).resolve().parents[3] / "web"
AXE_JS = WEB_DIR / "node_modules" / "axe-core" / "axe.min.js"
SENHA = "senha-forte-de-teste-123"


@pytest.fixture(scope="package")
def stack(database_url):
    from chalicelib import db

    assert (WEB_DIR / "dist" / "index.html").is_file(), "build the console first: make console"
    os.environ["DATABASE_URL"] = database_url
    db.close()
    db.execute("TRUNCATE administradores, contatos, templates, ws_conexoes, push_subscriptions CASCADE")
    with running_stack() as running:
        yield running


@pytest.fixture(scope="package")
def browser():
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=15_000)  # 5 s by default: too little for a starved renderer
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def component(stack, class_name: str):
    return next(c for c in stack.components if type(c).__name__ == class_name)


def console_url(stack) -> str:
    return component(stack, "ConsoleComponent").url


def new_admin(nome: str) -> dict:
    from chalicelib.services.auth import create_admin

    return create_admin(nome, f"{nome.lower()}-{uuid.uuid4().hex[:6]}@escola.com.br", SENHA)


def new_wa_id() -> str:
    return "55119" + str(uuid.uuid4().int)[:8]


def post_webhook(stack, payload) -> None:
    from devstack.payloads import signed

    body, headers = signed(payload)
    request = urllib.request.Request(f"{stack.api_url}/webhooks/whatsapp", data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def customer_writes(stack, wa_id: str, texto: str, nome: str) -> dict:
    from devstack import payloads

    message = payloads.text(wa_id, texto)
    post_webhook(stack, payloads.envelope(payloads.value(messages=[message], profiles={wa_id: nome})))
    return message


class Pages:
    """New pages that record console errors; the test fails on any error not expected."""

    def __init__(self, browser):
        self.browser = browser
        self.contexts: list = []
        self.errors: list[str] = []
        self.allowed: list[re.Pattern] = []

    def new(self, width: int = 1280, height: int = 800):
        context = self.browser.new_context(viewport={"width": width, "height": height}, locale="pt-BR")
        self.contexts.append(context)
        page = context.new_page()
        # Generous waits: on a busy 2-core machine Chromium's renderer can be starved for
        # seconds; a slow answer is not a wrong one (the assertions still say what must show).
        page.set_default_timeout(30_000)
        page.on("console", lambda m: m.type == "error" and self.errors.append(f"{page.url}: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(f"{page.url}: uncaught {e}"))
        return page

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@pytest.fixture
def pages(browser):
    made = Pages(browser)
    yield made
    for context in made.contexts:
        context.close()
    assert made.unexpected() == [], made.unexpected()


def sign_in(page, stack, admin: dict, senha: str = SENHA) -> None:
    from playwright.sync_api import expect

    page.goto(console_url(stack) + "/")
    page.get_by_label("E-mail").fill(admin["email"])
    page.get_by_label("Senha").fill(senha)
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_role("list", name="Conversas")).to_be_attached()
    expect(page.get_by_role("status").filter(has_text="Conectado")).to_be_visible()


def check_axe(page, what: str) -> None:
    """No serious or critical axe-core violation on the page as it is now."""
    page.add_script_tag(path=str(AXE_JS))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], f"{what}: {bad}"


def wait_for(predicate, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def sent_to(stack, wa_id: str) -> list[dict]:
    """What the fake WhatsApp was sent for this customer."""
    graph = component(stack, "FakeWhatsAppComponent").graph
    return [m for m in list(graph.sent_messages) if m.get("to") in (wa_id, f"+{wa_id}")]
