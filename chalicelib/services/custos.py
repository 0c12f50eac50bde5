"""The cost report: outbound messages by billing category and period, billed vs free.

Days are the school's days (America/Sao_Paulo): a message sent at 22:30 in São Paulo on
the 31st counts on the 31st, although it is stored as the 1st in UTC.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

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


_COUNTS = ("mensagens", "cobradas", "gratuitas", "sem_informacao", "falhas")


def relatorio(q: CustosQuery) -> dict[str, Any]:
    if q.de > q.ate:
        raise ApiError(422, "ValidationError", "Período inválido: 'de' é posterior a 'ate'.", field="de")
    if (q.ate - q.de).days + 1 > MAX_DIAS:
        raise ApiError(
            422, "ValidationError", f"Período longo demais: no máximo {MAX_DIAS} dias por relatório.", field="ate"
        )
    rows = repo.report(q.de, q.ate, _UNIDADES[q.agrupar], FUSO)
    periodos, categorias = [], []
    total = dict.fromkeys(_COUNTS, 0)
    for row in rows:
        counts = {k: int(row[k]) for k in _COUNTS}
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
    }
