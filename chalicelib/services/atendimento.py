"""Attendance depth (issue 13): quick replies, internal notes, the attendance settings,
automatic distribution, the away message, read receipts and typing, the response-time report.

Distribution and the away message's claim run inside the webhook's transaction
(chalicelib.services.inbound); everything else is called by chalicelib.routes.atendimento.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from pg8000.exceptions import DatabaseError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chalicelib import db
from chalicelib.api_models import Nota
from chalicelib.http import ApiError, not_found
from chalicelib.observability import logger
from chalicelib.repositories import atendimento as repo
from chalicelib.repositories import conversas, eventos
from chalicelib.services import live_events

FUSO = "America/Sao_Paulo"
TEXT_MAX = 4096
# A conversation whose customer wrote less than this long ago gets no second away message.
AUSENCIA_INTERVALO_HORAS = 12
# Meta shows "typing..." for up to 25 s; one request per conversation per this many seconds.
DIGITANDO_INTERVALO_SEGUNDOS = 10
# Read receipts and typing are courtesies: a short timeout, never the answer's failure.
RECIBO_TIMEOUT = (1.0, 2.0)


# Quick replies -----------------------------------------------------------------------------
class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _atalho(value: str) -> str:
    value = value.strip().lstrip("/").lower()
    if not re.fullmatch(r"[a-z0-9_-]{1,40}", value):
        raise ValueError("use de 1 a 40 letras minúsculas sem acento, números, - ou _ (ex.: /preco)")
    return value


class RespostaRapidaIn(_In):
    atalho: str = Field(description="Atalho, com ou sem a barra: /preco")
    titulo: str = Field(min_length=1, max_length=100)
    conteudo: str = Field(min_length=1, max_length=TEXT_MAX, description="Texto; {{nome}}, {{instrumento}} ...")

    _v_atalho = field_validator("atalho")(classmethod(lambda cls, v: _atalho(v)))


class RespostaRapidaPatch(_In):
    atalho: str | None = None
    titulo: str | None = Field(None, min_length=1, max_length=100)
    conteudo: str | None = Field(None, min_length=1, max_length=TEXT_MAX)

    _v_atalho = field_validator("atalho")(classmethod(lambda cls, v: None if v is None else _atalho(v)))


class RespostasQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    conversa_id: UUID | None = Field(None, description="Preenche os placeholders com o contato desta conversa")
    busca: str | None = Field(None, max_length=100, description="Parte do atalho ou do título")


class RespostaRapida(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: UUID
    atalho: str
    titulo: str
    conteudo: str
    criado_por: UUID | None
    created_at: datetime
    updated_at: datetime
    conteudo_preenchido: str | None = Field(None, description="Com conversa_id: o texto com placeholders preenchidos")
    faltando: list[str] = Field(default_factory=list, description="Placeholders sem valor para este contato")


class RespostasRapidasOut(BaseModel):
    items: list[RespostaRapida]


PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


def placeholder_values(conversa_id: str) -> dict[str, str]:
    """What a quick reply may name: the contact and its lead (interessados)."""
    row = repo.contato_da_conversa(conversa_id)
    if row is None:
        raise not_found("Conversa")
    nome = (row["nome"] or row["nome_perfil"] or "").strip()
    valores = {
        "nome": nome,
        "primeiro_nome": nome.split(" ")[0] if nome else "",
        "telefone": row["telefone"] or "",
        "instrumento": row["instrumento_desejado"] or "",
        "instrumento_sugerido": row["instrumento_sugerido"] or "",
        "nome_aluno": row["nome_aluno"] or "",
    }
    return {k: v for k, v in valores.items() if v}


def fill(conteudo: str, valores: dict[str, str]) -> tuple[str, list[str]]:
    """The text with each known {{placeholder}} replaced; unknown ones are kept, and listed."""
    faltando: list[str] = []

    def troca(match: re.Match[str]) -> str:
        nome = match.group(1)
        if nome in valores:
            return valores[nome]
        if nome not in faltando:
            faltando.append(nome)
        return match.group(0)

    return PLACEHOLDER.sub(troca, conteudo), faltando


def list_respostas(q: RespostasQuery) -> dict[str, Any]:
    rows = repo.respostas(q.busca)
    if q.conversa_id is not None:
        valores = placeholder_values(str(q.conversa_id))
        for row in rows:
            row["conteudo_preenchido"], row["faltando"] = fill(row["conteudo"], valores)
    return {"items": rows}


def _unique_violation(exc: Exception) -> bool:
    return db.sqlstate(exc) == "23505"


def _atalho_em_uso(atalho: str) -> ApiError:
    return ApiError(409, "ShortcutInUse", f"O atalho /{atalho} já existe.", field="atalho")


def create_resposta(admin_id: str, body: RespostaRapidaIn) -> dict[str, Any]:
    try:
        return repo.create_resposta(admin_id, body.atalho, body.titulo, body.conteudo)
    except DatabaseError as exc:
        if _unique_violation(exc):
            raise _atalho_em_uso(body.atalho) from exc
        raise


def update_resposta(resposta_id: str, body: RespostaRapidaPatch) -> dict[str, Any]:
    campos = body.model_dump(exclude_none=True)
    try:
        row = repo.update_resposta(resposta_id, campos)
    except DatabaseError as exc:
        if _unique_violation(exc):
            raise _atalho_em_uso(campos.get("atalho", "")) from exc
        raise
    if row is None:
        raise not_found("Resposta rápida")
    return row


def delete_resposta(resposta_id: str) -> None:
    if not repo.delete_resposta(resposta_id):
        raise not_found("Resposta rápida")


# Internal notes ----------------------------------------------------------------------------
class NotaIn(_In):
    conteudo: str = Field(min_length=1, max_length=TEXT_MAX)


class NotasOut(BaseModel):
    items: list[Nota] = Field(description="Mais antigas primeiro")


MENCAO = re.compile(r"@([\w.-]+)")


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def mentioned(conteudo: str, admins: list[dict[str, Any]]) -> list[str]:
    """Admins named as @primeironome or @nomecompleto (no spaces, any case and accents)."""
    words = {_plain(w).rstrip(".-") for w in MENCAO.findall(conteudo)}
    found = []
    for admin in admins:
        nome = _plain(admin["nome"] or "")
        aliases = {nome.split(" ")[0], nome.replace(" ", ""), nome.replace(" ", ".")} - {""}
        if words & aliases:
            found.append(str(admin["id"]))
    return found


def create_nota(conversa_id: str, admin_id: str, body: NotaIn) -> dict[str, Any]:
    """Any attendant, assigned or not; never sent to WhatsApp (a table of its own)."""
    mencoes = mentioned(body.conteudo, repo.administradores())
    with db.transaction():
        if not conversas.exists(conversa_id):
            raise not_found("Conversa")
        nota_id = repo.create_nota(conversa_id, admin_id, body.conteudo, mencoes)
        live_events.note_new(nota_id)
    # The mentioned attendants' pushes go from the live-events drain, with note:new.
    return repo.notas_by_ids([nota_id])[0]


def list_notas(conversa_id: str) -> dict[str, Any]:
    if not conversas.exists(conversa_id):
        raise not_found("Conversa")
    return {"items": repo.notas_da_conversa(conversa_id)}


# Settings --------------------------------------------------------------------------------------
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class Horario(_In):
    dia: int = Field(ge=0, le=6, description="0 = domingo … 6 = sábado")
    inicio: str = Field(description="HH:MM, horário de Brasília")
    fim: str = Field(description="HH:MM (exclusivo; 24:00 = fim do dia), depois de inicio")

    @model_validator(mode="after")
    def _ordem(self) -> Horario:
        if not HHMM.match(self.inicio) or not (HHMM.match(self.fim) or self.fim == "24:00"):
            raise ValueError("use HH:MM (00:00 a 23:59)")
        if self.fim <= self.inicio:
            raise ValueError("fim deve ser depois de inicio")
        return self


class ConfiguracoesIn(_In):
    distribuicao_automatica: bool = False
    capacidade: int = Field(5, ge=1, le=1000, description="Conversas ativas por atendente")
    horarios: list[Horario] = Field(default_factory=list, max_length=50)
    mensagem_ausencia: str = Field("", max_length=TEXT_MAX)


class ConfiguracoesOut(ConfiguracoesIn):
    model_config = ConfigDict(extra="allow")
    fuso: str = FUSO
    atualizado_por: UUID | None = None
    updated_at: datetime | None = None


DEFAULTS = {"distribuicao_automatica": False, "capacidade": 5, "horarios": [], "mensagem_ausencia": ""}


def get_configuracoes() -> dict[str, Any]:
    row = repo.configuracoes()
    out = {**DEFAULTS, "atualizado_por": None, "updated_at": None, **(row or {})}
    out.pop("id", None)
    out["fuso"] = FUSO
    return out


def put_configuracoes(admin_id: str, body: ConfiguracoesIn) -> dict[str, Any]:
    repo.save_configuracoes(admin_id, body.model_dump(mode="json"))
    return get_configuracoes()


def dentro_do_horario(horarios: list[dict[str, Any]], agora: datetime | None = None) -> bool:
    """No business hours configured counts as always open (no away message)."""
    if not horarios:
        return True
    local = (agora or datetime.now(UTC)).astimezone(ZoneInfo(FUSO))
    dia = (local.weekday() + 1) % 7  # Python: Monday = 0; ours: Sunday = 0
    hhmm = local.strftime("%H:%M")
    return any(int(h["dia"]) == dia and h["inicio"] <= hhmm < h["fim"] for h in horarios)


# Inside the webhook's transaction ---------------------------------------------------------------
def on_inbound(
    conversas_novas: list[str], conversas_com_mensagem: list[str], mensagens_novas: list[str], agora=None
) -> list[str]:
    """Distribute the new conversations and claim the away message; returns the conversation
    ids that must get the away message once the transaction committed."""
    if not conversas_com_mensagem:
        return []
    config = repo.configuracoes()
    if config is None:
        return []
    if config["distribuicao_automatica"] and conversas_novas:
        distribute(conversas_novas, int(config["capacidade"]))
    texto = (config["mensagem_ausencia"] or "").strip()
    if texto and not dentro_do_horario(config["horarios"], agora):
        return repo.claim_ausencia(conversas_com_mensagem, mensagens_novas, AUSENCIA_INTERVALO_HORAS)
    return []


def distribute(conversa_ids: list[str], capacidade: int) -> list[dict[str, Any]]:
    """Assign each new conversation to an online attendant under capacity, least loaded first,
    then the one who got a conversation longest ago (round-robin among equals).

    One transaction-scoped advisory lock serialises distributions: a concurrent webhook waits
    here until this one commits, and then counts the loads this one left (READ COMMITTED: its
    next statement sees them), so capacity is never overshot."""
    repo.lock_distribuicao()
    candidatos = repo.carga_online()
    feitas = []
    for conversa_id in sorted(conversa_ids):
        livres = [c for c in candidatos if c["carga"] < capacidade]
        if not livres:
            break  # stays unassigned: conversation:new already reached every attendant
        livres.sort(key=lambda c: (c["carga"], c["ultima"] or datetime.min.replace(tzinfo=UTC), str(c["admin_id"])))
        escolhido = livres[0]
        row = repo.assign_automatically(conversa_id, str(escolhido["admin_id"]))
        if row is None:
            continue
        escolhido["carga"] += 1
        escolhido["ultima"] = row["atribuida_em"]

        eventos.record(
            row["contato_id"],
            "conversa_atribuida",
            {"conversa_id": row["id"], "por": None, "atendente_id": row["atendente_id"], "automatica": True},
        )
        live_events.conversation_assigned(row["id"], None)
        feitas.append(row)
    return feitas


def send_away_messages(conversa_ids: list[str]) -> None:
    """After the webhook's commit: the away text to each claimed conversation, as "sistema"."""
    if not conversa_ids:
        return
    config = repo.configuracoes() or {}
    texto = (config.get("mensagem_ausencia") or "").strip()
    if not texto:
        return
    from chalicelib.services import sending

    for conversa_id in conversa_ids:
        try:
            sending.send_system_text(conversa_id, texto, "ausencia")
        except Exception:  # noqa: BLE001 - the webhook is answered 200 whatever happens here
            logger.exception("away message failed", extra={"conversa_id": conversa_id})


# Read receipts and typing ---------------------------------------------------------------------
def send_read_receipt(conversa_id: str) -> bool:
    """After POST /lida: blue ticks for the newest inbound message, once per message."""
    claim = repo.claim_recibo_lida(conversa_id)
    if claim is None:
        return False
    from chalicelib.whatsapp.graph import get_graph_client

    try:
        get_graph_client().mark_read(claim["whatsapp_id"], timeout=RECIBO_TIMEOUT)
        return True
    except Exception:  # noqa: BLE001 - best effort: give the claim back so the next /lida retries
        logger.warning("read receipt failed", extra={"conversa_id": conversa_id}, exc_info=True)
        repo.release_recibo_lida(conversa_id, claim["mensagem_id"], claim["anterior"])
        return False


class DigitandoOut(BaseModel):
    enviado: bool = Field(description="false: pedido recente demais, janela fechada ou nada a responder")


def typing(conversa_id: str) -> dict[str, Any]:
    if not conversas.exists(conversa_id):
        raise not_found("Conversa")
    wamid = repo.claim_digitando(conversa_id, DIGITANDO_INTERVALO_SEGUNDOS)
    if wamid is None:
        return {"enviado": False}
    from chalicelib.whatsapp.graph import get_graph_client

    try:
        get_graph_client().mark_read(wamid, typing=True, timeout=RECIBO_TIMEOUT)
    except Exception:  # noqa: BLE001
        logger.warning("typing indicator failed", extra={"conversa_id": conversa_id}, exc_info=True)
        return {"enviado": False}
    return {"enviado": True}


# Metrics --------------------------------------------------------------------------------------
class MetricasQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    de: date = Field(description="Primeiro dia (AAAA-MM-DD, horário de Brasília), incluído")
    ate: date = Field(description="Último dia, incluído")
    atendente: UUID | None = Field(None, description="Só este atendente")


class MetricasLinha(BaseModel):
    model_config = ConfigDict(extra="allow")
    atendente_id: UUID | None
    atendente_nome: str | None
    conversas_atendidas: int
    primeira_resposta_mediana_s: float | None
    primeira_resposta_p90_s: float | None
    resolucao_mediana_s: float | None
    mensagens_enviadas: int


class MetricasOut(BaseModel):
    de: date
    ate: date
    fuso: str
    atendentes: list[MetricasLinha]
    total: MetricasLinha
    aguardando: int = Field(description="Conversas ativas sem atendente agora")


def relatorio(q: MetricasQuery) -> dict[str, Any]:
    if q.de > q.ate:
        raise ApiError(422, "ValidationError", "Período inválido: 'de' é posterior a 'ate'.", field="de")
    if (q.ate - q.de).days + 1 > 366:
        raise ApiError(422, "ValidationError", "Período longo demais: no máximo 366 dias.", field="ate")
    rows = repo.metricas(q.de, q.ate, FUSO, str(q.atendente) if q.atendente else None)
    atendentes, total = [], None
    for row in rows:
        linha = {
            "atendente_id": row["atendente_id"],
            "atendente_nome": row["atendente_nome"],
            "conversas_atendidas": int(row["conversas_atendidas"] or 0),
            "primeira_resposta_mediana_s": _f(row["pr_mediana"]),
            "primeira_resposta_p90_s": _f(row["pr_p90"]),
            "resolucao_mediana_s": _f(row["res_mediana"]),
            "mensagens_enviadas": int(row["mensagens_enviadas"] or 0),
        }
        if row["total"]:
            total = linha
        else:
            atendentes.append(linha)
    vazio = {
        "atendente_id": None,
        "atendente_nome": None,
        "conversas_atendidas": 0,
        "primeira_resposta_mediana_s": None,
        "primeira_resposta_p90_s": None,
        "resolucao_mediana_s": None,
        "mensagens_enviadas": 0,
    }
    return {
        "de": q.de,
        "ate": q.ate,
        "fuso": FUSO,
        "atendentes": atendentes,
        "total": total or vazio,
        "aguardando": repo.aguardando(),
    }


def _f(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)
