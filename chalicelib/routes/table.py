"""The API's route table, so that a route's module loads on the route's first call, not at import.

Every Lambda of the app imports app.py, and most never serve a given route: importing every
route module would build every pydantic model and load every service and repository in each
of them (issue 17). So app.py registers, for each row below, a stand-in view with the route's
path, method and authorizer: `app.routes` is complete at import (API Gateway, `chalice
package`, the local gateway and the OpenAPI document all read it). The first call of any of a
module's routes imports that module and registers its blueprint, whose views then replace the
stand-ins in their entries.

The route modules' own `@bp.route(...)` decorators stay the truth; tests/unit/test_cold_start.py
fails when this table drifts from them.
"""

from __future__ import annotations

import importlib
import threading
from collections import defaultdict

# module (in chalicelib.routes) -> "METHOD /path" -> its view function's name
ROUTES: dict[str, dict[str, str]] = {
    "auth": {"POST /auth/login": "login", "GET /me": "me", "POST /me/senha": "change_senha"},
    "admin": {
        "GET /administradores": "list_administradores",
        "POST /administradores": "create_administrador",
        "DELETE /administradores/{admin_id}": "deactivate_administrador",
        "GET /openapi.json": "openapi_json",
    },
    "conversas": {
        "GET /conversas": "list_conversas",
        "GET /conversas/{conversa_id}": "get_conversa",
        "GET /conversas/{conversa_id}/mensagens": "list_mensagens",
        "POST /conversas/{conversa_id}/lida": "mark_read",
        "POST /conversas/{conversa_id}/atribuir": "assign",
        "POST /conversas/{conversa_id}/transferir": "transfer",
        "POST /conversas/{conversa_id}/liberar": "release",
        "POST /conversas/{conversa_id}/encerrar": "close",
        "POST /conversas/{conversa_id}/reabrir": "reopen",
    },
    "mensagens": {
        "POST /conversas/{conversa_id}/mensagens": "send_mensagem",
        "POST /media/uploads": "create_upload",
    },
    "contatos": {
        "GET /contatos": "list_contatos",
        "GET /contatos/{contato_id}": "get_contato",
        "PATCH /contatos/{contato_id}": "patch_contato",
        "GET /contatos/{contato_id}/eventos": "list_eventos",
        "GET /contatos/{contato_id}/interessado": "get_interessado",
        "PUT /contatos/{contato_id}/interessado": "put_interessado",
    },
    "templates": {"GET /templates": "list_templates"},
    "push": {
        "GET /push/vapid-public-key": "vapid_public_key",
        "POST /push/subscriptions": "subscribe",
        "DELETE /push/subscriptions": "unsubscribe",
    },
    "webhook": {"GET /webhooks/whatsapp": "verify_webhook", "POST /webhooks/whatsapp": "receive_webhook"},
    "lgpd": {
        "GET /contatos/{contato_id}/export": "export_contato",
        "POST /contatos/{contato_id}/anonimizar": "anonymize_contato",
    },
    "relatorios": {
        "GET /relatorios/custos": "relatorio_custos",
        "GET /relatorios/atendimento": "relatorio_atendimento",
    },
    "tarifas": {"GET /tarifas": "list_tarifas", "POST /tarifas": "create_tarifa"},
    "atendimento": {
        "GET /respostas-rapidas": "list_respostas_rapidas",
        "POST /respostas-rapidas": "create_resposta_rapida",
        "PATCH /respostas-rapidas/{resposta_id}": "update_resposta_rapida",
        "DELETE /respostas-rapidas/{resposta_id}": "delete_resposta_rapida",
        "GET /conversas/{conversa_id}/notas": "list_notas",
        "POST /conversas/{conversa_id}/notas": "create_nota",
        "POST /conversas/{conversa_id}/digitando": "typing",
        "GET /configuracoes/atendimento": "get_configuracoes",
        "PUT /configuracoes/atendimento": "put_configuracoes",
    },
}

# Every other route of the table is behind the authorizer.
PUBLIC = {"POST /auth/login", "GET /openapi.json", "GET /webhooks/whatsapp", "POST /webhooks/whatsapp"}


class RouteModules:
    """Registers the stand-ins of the table's routes on `app` and loads their modules on demand."""

    def __init__(self, app):
        self._app = app
        self._loaded: set[str] = set()
        self._lock = threading.RLock()

    def register(self, module: str, authorizer) -> None:
        """The stand-ins of `module`'s routes (authorizer: the one non-public routes use)."""
        for route, view_name in ROUTES[module].items():
            method, path = route.split(" ", 1)
            stand_in = LazyView(self, module, view_name)
            auth = None if route in PUBLIC else authorizer
            self._app.route(path, methods=[method], name=view_name, authorizer=auth)(stand_in)

    def load(self, module: str):
        """Import `module` and put its blueprint's routes in place of the stand-ins (once)."""
        with self._lock:
            imported = importlib.import_module(f"chalicelib.routes.{module}")
            if module not in self._loaded:
                self._swap_in(imported.bp)
                self._loaded.add(module)
            return imported

    def load_all(self) -> None:
        for module in ROUTES:
            self.load(module)

    def _swap_in(self, blueprint) -> None:
        # Chalice's own registration builds the real entries, into an empty table (re-registering
        # a path and method raises), and then lends them their views: the stand-in entries stay,
        # with whatever was set on them since import, and the table keeps its shape while it may
        # be being iterated (the OpenAPI and Swagger generators read a view's description, which
        # loads its module). The lock keeps the local servers' threads from loading twice.
        table = self._app.routes
        self._app.routes = defaultdict(dict)
        try:
            self._app.register_blueprint(blueprint)
            fresh = self._app.routes
        finally:
            self._app.routes = table
        for path, methods in fresh.items():
            for method, entry in methods.items():
                stand_in = table.get(path, {}).get(method)
                if stand_in is None:
                    raise RuntimeError(f"{method} {path} is missing from chalicelib/routes/table.py")
                stand_in.view_function = entry.view_function


class LazyView:
    """A route's view until its module is imported: calling it, or reading any attribute of it
    (its docstring, the `__openapi__` of chalicelib.openapi.doc), imports the module first."""

    def __init__(self, modules: RouteModules, module: str, name: str):
        self._modules = modules
        self._module = module
        # What a function tells of itself, known without importing it (tests select routes by module).
        self.__name__ = self.__qualname__ = name
        self.__module__ = f"chalicelib.routes.{module}"

    def view(self):
        return getattr(self._modules.load(self._module), self.__name__)

    def __call__(self, *args, **kwargs):
        return self.view()(*args, **kwargs)

    def __getattr__(self, attr: str):
        if attr.startswith("_") and not attr.startswith("__"):
            raise AttributeError(attr)  # our own fields, looked up before __init__ (copy, pickle)
        return getattr(self.view(), attr)

    @property
    def __doc__(self):  # Chalice's Swagger generator describes a route with its view's docstring
        return self.view().__doc__
