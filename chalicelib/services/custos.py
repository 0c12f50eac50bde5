"""The cost report: outbound messages by billing category and period, billed vs free, and
their estimated cost in reais from the rate card (`tarifas`, versioned by date).

Days are the school's days (America/Sao_Paulo): a message sent at 22:30 in São Paulo on
the 31st counts on the 31st, although it is stored as the 1st in UTC.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.http import ApiError
from chalicelib.repositories import custos as repo

FUSO = "America/Sao_Paulo"
MAX_DIAS = 366  # one (leap) year, both ends included
_UNIDADES = {"dia": "day", "mes": "month"}


class CustosQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    de: date = Field(description="Primeiro dia (AAAA-MM-DD, horário de Brasília), incluído.")
    ate: date = Field(description="Último dia (AAAA-MM-DD, horário de Brasília), incluído.")
    agrupar: Literal["dia", "mes"] = "dia"


class Contagem(BaseModel):
    model_config = ConfigDict(extra="allow")
    mensagens: int
    cobradas: int = Field(description="Cobradas segundo o pricing dos webhooks de status")
    gratuitas: int = Field(description="Gratuitas segundo o pricing dos webhooks de status")
    sem_informacao: int = Field(description="Sem pricing recebido (falhas, ou status ainda não recebido)")
    falhas: int
    cobradas_sem_tarifa: int = Field(description="Cobradas sem tarifa vigente para a categoria naquele dia")
    valor_estimado_brl: float = Field(
        description="Estimativa em R$: cada mensagem cobrada vezes a tarifa da categoria vigente no dia dela"
    )


class CategoriaContagem(Contagem):
    billing_category: str | None


class PeriodoContagem(CategoriaContagem):
    periodo: date


class CustosOut(BaseModel):
    de: date
    ate: date
    agrupar: Literal["dia", "mes"]
    fuso: str
    periodos: list[PeriodoContagem]
    categorias: list[CategoriaContagem]
    total: Contagem
    aviso: str


AVISO = (
    "Valores estimados a partir da tabela de tarifas configurada (R$ por mensagem cobrada, por categoria"
    " e data de vigência); a fatura da Meta é a referência."
)

_COUNTS = ("mensagens", "cobradas", "gratuitas", "sem_informacao", "falhas", "cobradas_sem_tarifa")


class Tarifa(BaseModel):
    id: UUID
    categoria: Literal["marketing", "utility", "authentication", "service"]
    vigente_desde: date
    valor_brl: float
    observacao: str | None
    criado_por: UUID | None
    created_at: datetime


class TarifasOut(BaseModel):
    items: list[Tarifa]
    aviso: str


class TarifaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    categoria: Literal["marketing", "utility", "authentication", "service"]
    vigente_desde: date = Field(description="Primeiro dia (horário de Brasília) em que a tarifa vale")
    valor_brl: Decimal = Field(ge=0, le=1000, max_digits=12, decimal_places=4, description="R$ por mensagem cobrada")
    observacao: str | None = Field(default=None, max_length=500)


def tarifas() -> dict[str, Any]:
    return {"items": repo.list_tarifas(), "aviso": AVISO}


def save_tarifa(body: TarifaIn, admin_id: str) -> dict[str, Any]:
    return repo.upsert_tarifa(body.categoria, body.vigente_desde, body.valor_brl, body.observacao, admin_id)


def _counts(row: dict[str, Any]) -> dict[str, Any]:
    counts: dict[str, Any] = {k: int(row[k]) for k in _COUNTS}
    counts["valor_estimado_brl"] = round(float(row["valor_estimado_brl"] or 0), 4)
    return counts


def relatorio(q: CustosQuery) -> dict[str, Any]:
    if q.de > q.ate:
        raise ApiError(422, "ValidationError", "Período inválido: 'de' é posterior a 'ate'.", field="de")
    if (q.ate - q.de).days + 1 > MAX_DIAS:
        raise ApiError(
            422, "ValidationError", f"Período longo demais: no máximo {MAX_DIAS} dias por relatório.", field="ate"
        )
    rows = repo.report(q.de, q.ate, _UNIDADES[q.agrupar], FUSO)
    periodos, categorias = [], []
    total: dict[str, Any] = {**dict.fromkeys(_COUNTS, 0), "valor_estimado_brl": 0.0}
    for row in rows:
        counts = _counts(row)
        if row["sem_periodo"] and row["sem_categoria"]:
            total = counts
        elif row["sem_periodo"]:
            categorias.append({"billing_category": row["billing_category"], **counts})
        else:
            periodos.append({"periodo": row["periodo"], "billing_category": row["billing_category"], **counts})
    return {
        "de": q.de,
        "ate": q.ate,
        "agrupar": q.agrupar,
        "fuso": FUSO,
        "periodos": periodos,
        "categorias": categorias,
        "total": total,
        "aviso": AVISO,
    }
