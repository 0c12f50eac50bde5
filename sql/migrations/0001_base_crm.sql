-- 0001: the CRM MVP's base tables (administradores, contatos, interessados, conversas,
-- mensagens, eventos) with their enums. Enum values are DESIGN §5's; the values that the
-- "atendimento compartilhado e mídia" seed adds to existing enums come in 0002.

-- gen_random_uuid() is built in from PostgreSQL 13; RDS runs 15+.

CREATE TYPE tipo_contato AS ENUM ('interessado', 'aluno', 'responsavel', 'outro');
CREATE TYPE origem_contato AS ENUM ('organico', 'anuncio', 'indicacao', 'campanha', 'site', 'outro');
CREATE TYPE canal AS ENUM ('whatsapp', 'instagram', 'messenger');
CREATE TYPE estado_jornada AS ENUM (
    'novo', 'em_atendimento', 'qualificado', 'aula_experimental', 'matriculado', 'perdido'
);
CREATE TYPE status_conversa AS ENUM ('ativa', 'encerrada');
CREATE TYPE direcao_mensagem AS ENUM ('entrada', 'saida');
CREATE TYPE tipo_mensagem AS ENUM ('texto', 'interativo', 'reacao', 'contatos', 'sistema', 'nao_suportado');
CREATE TYPE status_envio AS ENUM ('pendente', 'enviada', 'entregue', 'lida', 'falhou');

-- updated_at follows every UPDATE without each query having to remember it.
CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TABLE administradores (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    nome        varchar(100) NOT NULL CHECK (btrim(nome) <> ''),
    email       varchar(255) NOT NULL UNIQUE CHECK (email = lower(email) AND position('@' IN email) > 1),
    senha_hash  varchar(255) NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE contatos (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    telefone         varchar(20) NOT NULL CHECK (telefone ~ '^\+[1-9][0-9]{6,14}$'),
    nome             varchar(200),
    tipo             tipo_contato NOT NULL DEFAULT 'interessado',
    origem           origem_contato NOT NULL DEFAULT 'organico',
    origem_campanha  varchar(100),
    canal            canal NOT NULL DEFAULT 'whatsapp',
    estado_jornada   estado_jornada NOT NULL DEFAULT 'novo',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX idx_contato_telefone ON contatos (telefone);
CREATE INDEX idx_contato_estado ON contatos (estado_jornada);
CREATE INDEX idx_contato_origem ON contatos (origem);
CREATE INDEX idx_contato_created ON contatos (created_at DESC);

-- A lead belongs to its contact: erasing the contact erases the lead.
CREATE TABLE interessados (
    id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    contato_id               uuid NOT NULL REFERENCES contatos (id) ON DELETE CASCADE,
    nome                     varchar(200) NOT NULL,
    idade                    integer NOT NULL CHECK (idade BETWEEN 0 AND 120),
    instrumento_desejado     varchar(100) NOT NULL,
    instrumento_sugerido     varchar(100),
    experiencia_musical      text,
    expectativas             text,
    disponibilidade_horario  boolean NOT NULL,
    compativel               boolean NOT NULL DEFAULT true,
    created_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_interessado_contato ON interessados (contato_id);
CREATE INDEX idx_interessado_instrumento ON interessados (instrumento_desejado);

CREATE TABLE conversas (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    contato_id  uuid NOT NULL REFERENCES contatos (id) ON DELETE CASCADE,
    canal       canal NOT NULL DEFAULT 'whatsapp',
    status      status_conversa NOT NULL DEFAULT 'ativa',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    closed_at   timestamptz,
    CHECK ((status = 'encerrada') = (closed_at IS NOT NULL))
);
CREATE INDEX idx_conversa_contato ON conversas (contato_id);
CREATE INDEX idx_conversa_status ON conversas (status);
CREATE INDEX idx_conversa_updated ON conversas (updated_at DESC);
-- At most one open conversation per contact: concurrent webhooks cannot open two.
CREATE UNIQUE INDEX idx_conversa_ativa_por_contato ON conversas (contato_id) WHERE status = 'ativa';

CREATE TABLE mensagens (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    conversa_id   uuid NOT NULL REFERENCES conversas (id) ON DELETE CASCADE,
    direcao       direcao_mensagem NOT NULL,
    conteudo      text NOT NULL DEFAULT '',
    tipo          tipo_mensagem NOT NULL,
    -- The admin who sent it; kept as history if the admin is removed.
    enviado_por   uuid REFERENCES administradores (id) ON DELETE SET NULL,
    whatsapp_id   varchar(255),
    status_envio  status_envio NOT NULL DEFAULT 'pendente',
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_mensagem_conversa ON mensagens (conversa_id, created_at);
CREATE UNIQUE INDEX idx_mensagem_whatsapp ON mensagens (whatsapp_id) WHERE whatsapp_id IS NOT NULL;

-- Events outlive nothing: they go with their contact (LGPD erasure).
CREATE TABLE eventos (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    contato_id  uuid REFERENCES contatos (id) ON DELETE CASCADE,
    tipo        varchar(50) NOT NULL,
    dados       jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_evento_contato ON eventos (contato_id);
CREATE INDEX idx_evento_tipo ON eventos (tipo);
CREATE INDEX idx_evento_created ON eventos (created_at DESC);

CREATE TRIGGER trg_administradores_updated_at BEFORE UPDATE ON administradores
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER trg_contatos_updated_at BEFORE UPDATE ON contatos
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER trg_conversas_updated_at BEFORE UPDATE ON conversas
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
