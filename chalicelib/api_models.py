"""Pydantic models of the attendants' API (requests and query strings).

Field names are column names (docs/api.md). Unknown body fields are refused: a typo in a
PATCH must not look like it worked.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    StringConstraints,
    field_validator,
    model_validator,
)

StatusConversa = Literal["ativa", "encerrada"]
TipoContato = Literal["interessado", "aluno", "responsavel", "outro"]
OrigemContato = Literal["organico", "anuncio", "indicacao", "campanha", "site", "outro"]
EstadoJornada = Literal["novo", "em_atendimento", "qualificado", "aula_experimental", "matriculado", "perdido"]
TemplateStatus = Literal[
    "approved", "pending", "rejected", "paused", "disabled", "in_appeal", "pending_deletion", "deleted",
    "archived", "limit_exceeded",
]  # fmt: skip
TemplateCategory = Literal["utility", "marketing", "authentication"]
# The database enums of mensagens (a test compares each with pg_enum).
DirecaoMensagem = Literal["entrada", "saida"]
TipoMensagem = Literal["texto", "interativo", "reacao", "contatos", "sistema", "nao_suportado", "template", "media"]
StatusEnvio = Literal["pendente", "enviada", "entregue", "lida", "reproduzida", "falhou", "recebida"]
MediaType = Literal["image", "audio", "document", "video", "location"]
BillingCategory = Literal["service", "utility", "marketing", "authentication"]


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold U+0000: refuse it here (422) instead of failing in SQL (500).
    if "\x00" in value:
        raise ValueError("caractere nulo não permitido")
    return value


def S(max_length: int, min_length: int = 0, strip: bool = True) -> Any:
    """A string field: length limits, whitespace stripped, no NUL."""
    return Annotated[
        str,
        StringConstraints(strip_whitespace=strip, min_length=min_length, max_length=max_length),
        AfterValidator(_no_nul),
    ]


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(value: str) -> str:
    value = value.strip().lower()
    if len(value) > 255 or not _EMAIL.match(value):
        raise ValueError("e-mail inválido")
    return value


def _strong_password(value: str) -> str:
    from chalicelib.services.password_policy import problem

    reason = problem(value)
    if reason:
        raise ValueError(reason)
    return value


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Query(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PageQuery(Query):
    cursor: S(500, strip=False) | None = None
    limit: int = Field(30, ge=1, le=100)


# --- auth and admins ---------------------------------------------------------------------


class LoginIn(Body):
    email: S(255, strip=False)
    senha: S(1024, min_length=1, strip=False)

    _check_email = field_validator("email")(_email)


class AdministradorIn(Body):
    nome: S(100, min_length=1)
    email: S(255, strip=False)
    senha: S(1024, min_length=8, strip=False)
    papel: Literal["admin", "atendente"] = Field(
        "atendente", description="admin gerencia a equipe; atendente atende as conversas"
    )

    _senha_forte = field_validator("senha")(_strong_password)

    _check_email = field_validator("email")(_email)


class SenhaIn(Body):
    senha_atual: S(1024, min_length=1, strip=False)
    senha_nova: S(1024, min_length=8, strip=False)

    _senha_forte = field_validator("senha_nova")(_strong_password)


class SenhaOut(BaseModel):
    token: str = Field(description="Novo token: a troca encerra todas as sessões, inclusive a atual")
    expires_at: datetime


class Administrador(BaseModel):
    id: UUID
    nome: str
    email: str
    papel: Literal["admin", "atendente"]
    ativo: bool
    desativado_em: datetime | None = None
    created_at: datetime
    updated_at: datetime


class LoginOut(BaseModel):
    token: str
    expires_at: datetime
    administrador: Administrador


# --- conversations -----------------------------------------------------------------------


class ConversasQuery(PageQuery):
    status: StatusConversa | None = None
    atendente: S(64) | None = Field(None, description="me, nenhum ou o id de um administrador")
    janela: Literal["aberta", "fechada"] | None = None
    busca: S(100) | None = None

    @field_validator("atendente")
    @classmethod
    def _atendente(cls, value: str | None) -> str | None:
        if value in (None, "", "me", "nenhum"):
            return value or None
        try:
            return str(UUID(value))
        except ValueError:
            raise ValueError("use me, nenhum ou o id de um administrador") from None


class AtribuirIn(Body):
    atendente_id: UUID | None = Field(None, description="omitido: atribui a quem chama")


class TransferirIn(Body):
    atendente_id: UUID


# --- contacts and leads ------------------------------------------------------------------


class ContatosQuery(PageQuery):
    busca: S(100) | None = None


class ContatoPatch(Body):
    nome: S(200, min_length=1) | None = None
    tipo: TipoContato | None = None
    estado_jornada: EstadoJornada | None = None
    origem: OrigemContato | None = None
    origem_campanha: S(100) | None = None

    def changes(self) -> dict[str, Any]:
        """Only the fields the client sent; null is refused except where it means 'clear'."""
        data = self.model_dump(exclude_unset=True)
        for field in ("nome", "tipo", "estado_jornada", "origem"):
            if field in data and data[field] is None:
                raise ValueError(field)
        return data


class InteressadoIn(Body):
    nome: S(200, min_length=1)
    # A music school teaches from early childhood; the table allows 0-120 but a lead under 3
    # is a typo.
    idade: int = Field(ge=3, le=120)
    instrumento_desejado: S(100, min_length=1)
    instrumento_sugerido: S(100) | None = None
    experiencia_musical: S(2000) | None = None
    expectativas: S(2000) | None = None
    disponibilidade_horario: bool
    compativel: bool = True


# --- templates ---------------------------------------------------------------------------


class TemplatesQuery(PageQuery):
    limit: int = Field(100, ge=1, le=500)
    # One flat Literal (not a union) so a bad value's error names the field `status`.
    status: Literal[TemplateStatus, "todos"] = "approved"
    category: TemplateCategory | None = None
    language: S(15) | None = None


class Page(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None


# --- responses (documentation; tests validate real answers against them) -----------------


class Resposta(BaseModel):
    # Rows carry every column, including ones later migrations add: document, do not restrict.
    model_config = ConfigDict(extra="allow")


class ContatoResumo(Resposta):
    id: UUID
    nome: str | None
    nome_perfil: str | None
    telefone: str | None = Field(description="E.164; nulo para quem fala conosco só pelo nome de usuário")
    username: str | None = Field(None, description="Nome de usuário do WhatsApp, quando o cliente adotou um")
    bsuid: str | None = Field(None, description="ID de usuário do WhatsApp no escopo da empresa (BSUID)")
    nome_exibicao: str = Field(description="Nome, nome de usuário ou telefone: nunca vazio")
    tipo: TipoContato
    estado_jornada: EstadoJornada


class AtendenteResumo(Resposta):
    id: UUID
    nome: str


class MensagemResumo(Resposta):
    id: UUID
    direcao: DirecaoMensagem
    tipo: TipoMensagem
    conteudo: str
    media_type: MediaType | None = None
    status_envio: StatusEnvio | None = None
    created_at: datetime


class Conversa(Resposta):
    id: UUID
    contato_id: UUID
    status: StatusConversa
    atendente_id: UUID | None
    atribuida_em: datetime | None
    window_expires_at: datetime | None
    closed_at: datetime | None
    ultima_atividade_em: datetime
    nao_lidas: int
    free_entry_point_ate: datetime | None = Field(
        None, description="Aberta por um anúncio: até quando as mensagens são grátis (janela de 72 h)"
    )
    created_at: datetime
    updated_at: datetime


class ConversaItem(Conversa):
    janela_aberta: bool
    contato: ContatoResumo
    atendente: AtendenteResumo | None
    ultima_mensagem: MensagemResumo | None


class ConversasPage(BaseModel):
    items: list[ConversaItem]
    next_cursor: str | None


class ConversaOut(BaseModel):
    conversa: Conversa


class Mensagem(Resposta):
    id: UUID
    conversa_id: UUID
    whatsapp_id: str | None
    direcao: DirecaoMensagem
    tipo: TipoMensagem
    conteudo: str
    status_envio: StatusEnvio
    enviado_por: UUID | None
    enviado_por_nome: str | None
    media_type: MediaType | None
    media_mime: str | None
    media_url: str | None = Field(description="URL pré-assinada, válida por 15 minutos")
    thumbnail_url: str | None = Field(description="URL pré-assinada, válida por 15 minutos")
    billing_category: BillingCategory | None
    dados: dict[str, Any] = Field(
        description="O restante específico do tipo: coordenadas, contatos, reação, contexto de resposta, erros"
    )
    created_at: datetime
    updated_at: datetime


class MencaoNota(BaseModel):
    id: UUID
    nome: str


class Nota(BaseModel):
    """Nota interna de uma conversa: só os atendentes a veem, nunca vai ao WhatsApp."""

    model_config = ConfigDict(extra="allow")
    id: UUID
    conversa_id: UUID
    autor_id: UUID | None
    autor_nome: str | None
    conteudo: str
    mencoes: list[MencaoNota]
    created_at: datetime


class MensagensPage(BaseModel):
    items: list[Mensagem]
    next_cursor: str | None


class Contato(Resposta):
    id: UUID
    telefone: str | None = Field(description="E.164; nulo para quem fala conosco só pelo nome de usuário")
    username: str | None = Field(None, description="Nome de usuário do WhatsApp, quando o cliente adotou um")
    bsuid: str | None = Field(None, description="ID de usuário do WhatsApp no escopo da empresa (BSUID)")
    nome_exibicao: str = Field(description="Nome, nome de usuário ou telefone: nunca vazio")
    nome: str | None
    nome_editado: bool
    tipo: TipoContato
    origem: OrigemContato
    estado_jornada: EstadoJornada
    anonimizado: bool
    created_at: datetime
    updated_at: datetime


class Interessado(Resposta):
    id: UUID
    contato_id: UUID
    nome: str
    idade: int
    instrumento_desejado: str
    disponibilidade_horario: bool
    compativel: bool


class ContatoDetalhe(Contato):
    interessado: Interessado | None


class Evento(Resposta):
    id: UUID
    contato_id: UUID | None
    tipo: str
    dados: dict[str, Any] | None
    created_at: datetime


class EventosPage(BaseModel):
    items: list[Evento]
    next_cursor: str | None


class ContatosPage(BaseModel):
    items: list[Contato]
    next_cursor: str | None


class Template(Resposta):
    id: UUID
    name: str
    language: str
    category: TemplateCategory
    status: TemplateStatus
    body: str | None
    variables: list[Any]


class TemplatesPage(BaseModel):
    items: list[Template]
    next_cursor: str | None


class AdministradoresPage(BaseModel):
    items: list[Administrador]
    next_cursor: str | None


# Sending (POST /conversas/{id}/mensagens) -----------------------------------------------
TEXT_MAX = 4096  # WhatsApp's text body limit
CAPTION_MAX = 1024


class _Pedido(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


RESPONDER_A = "A mensagem (id) que esta responde: vai ao WhatsApp como context.message_id"


class EnviarTexto(_Pedido):
    tipo: Literal["texto"]
    conteudo: str = Field(min_length=1, max_length=TEXT_MAX)
    responder_a: UUID | None = Field(None, description=RESPONDER_A)


MediaKind = Literal["image", "audio", "video", "document"]


class EnviarMedia(_Pedido):
    tipo: Literal["media"]
    upload_id: UUID | None = Field(None, description="O upload_id de POST /media/uploads")
    key: str | None = Field(None, max_length=512, description="Ou a key de POST /media/uploads")
    media_type: MediaKind
    mime_type: str = Field(min_length=3, max_length=255)
    filename: str | None = Field(None, max_length=240)
    caption: str | None = Field(None, max_length=CAPTION_MAX)
    voz: bool = Field(False, description="Nota de voz: exige audio/ogg com codec opus")
    responder_a: UUID | None = Field(None, description=RESPONDER_A)

    @model_validator(mode="after")
    def _one_location(self) -> EnviarMedia:
        if (self.upload_id is None) == (self.key is None):
            raise ValueError("informe upload_id ou key (um dos dois)")
        return self


class EnviarTemplate(_Pedido):
    tipo: Literal["template"]
    name: str = Field(min_length=1, max_length=512)
    language: str = Field(min_length=2, max_length=15)
    # In the order of the template's `variables`, or by name ("nome", or "body.nome" when a
    # name exists in more than one component).
    parametros: list[str] | dict[str, str] = Field(default_factory=list)


class EnviarReacao(_Pedido):
    """A reaction to a message of the conversation: shown on it, not as a new message."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)
    tipo: Literal["reacao"]
    mensagem_id: UUID = Field(description="A mensagem reagida")
    emoji: str = Field(max_length=16, description="Um emoji; vazio remove a reação")

    @model_validator(mode="after")
    def _one_emoji(self) -> EnviarReacao:
        if self.emoji.strip() != self.emoji or any(c.isalnum() for c in self.emoji):
            raise ValueError("emoji deve ser um emoji (ou vazio, para remover)")
        return self


class EnviarMensagemIn(
    RootModel[Annotated[EnviarTexto | EnviarMedia | EnviarTemplate | EnviarReacao, Field(discriminator="tipo")]]
):
    """The body of POST /conversas/{id}/mensagens."""


Pedido = EnviarTexto | EnviarMedia | EnviarTemplate | EnviarReacao


class EnviarMensagemOut(BaseModel):
    """201: the stored message (a mensagens row, media as a presigned URL) and whether the
    send took the unassigned conversation for the sender."""

    mensagem: dict[str, Any]
    atribuida: bool
