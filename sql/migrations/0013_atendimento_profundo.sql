-- 0013: attendance depth (issue 13): quick replies, internal notes, the attendance settings
-- (automatic distribution, business hours, away message), read receipts sent, the away
-- message's once-only marker and the 72 h free entry point of click-to-WhatsApp ads.

-- Quick replies: shared snippets, found by their shortcut ("/preco" is stored as "preco").
-- Placeholders ({{nome}}, {{instrumento}} ...) stay in the text; they are filled per contact
-- when a conversation asks for them (GET /respostas-rapidas?conversa_id=...).
CREATE TABLE respostas_rapidas (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    atalho      varchar(40) NOT NULL CHECK (atalho ~ '^[a-z0-9_-]+$'),
    titulo      varchar(100) NOT NULL,
    conteudo    text NOT NULL CHECK (length(conteudo) BETWEEN 1 AND 4096),
    criado_por  uuid REFERENCES administradores (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX idx_respostas_rapidas_atalho ON respostas_rapidas (atalho);

-- Internal notes: a table of their own, not message rows. So they can never reach the Graph
-- API (sending only reads mensagens), never move the inbox's order or unread counters (0005's
-- trigger is on mensagens), never count as sent messages in the cost report or the metrics,
-- and never enter a contact's export as customer data. They go with their conversation
-- (ON DELETE CASCADE) and anonymisation deletes them (chalicelib.repositories.lgpd).
CREATE TABLE notas (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    conversa_id  uuid NOT NULL REFERENCES conversas (id) ON DELETE CASCADE,
    autor_id     uuid REFERENCES administradores (id) ON DELETE SET NULL,
    conteudo     text NOT NULL CHECK (length(conteudo) BETWEEN 1 AND 4096),
    -- The attendants @mentioned, resolved when written (notified once).
    mencoes      uuid[] NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_notas_conversa ON notas (conversa_id, created_at);

-- The attendance settings: one row (id is always true). No row means the defaults:
-- distribution off, capacity 5, no business hours (never "away"), no away message.
-- horarios: [{"dia": 0..6 (0 = domingo), "inicio": "08:00", "fim": "18:00"}] in
-- America/Sao_Paulo; a weekday without an interval is closed all day.
CREATE TABLE configuracoes_atendimento (
    id                       boolean PRIMARY KEY DEFAULT true CHECK (id),
    distribuicao_automatica  boolean NOT NULL DEFAULT false,
    capacidade               integer NOT NULL DEFAULT 5 CHECK (capacidade BETWEEN 1 AND 1000),
    horarios                 jsonb NOT NULL DEFAULT '[]',
    mensagem_ausencia        text NOT NULL DEFAULT '' CHECK (length(mensagem_ausencia) <= 4096),
    atualizado_por           uuid REFERENCES administradores (id) ON DELETE SET NULL,
    updated_at               timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE conversas
    -- The newest inbound message whose read receipt went to WhatsApp (POST /lida): claimed by
    -- a conditional UPDATE, so each message is reported read once.
    ADD COLUMN recibo_lida_mensagem_id uuid,
    -- When the away message was last sent (never twice within 12 h, never for redeliveries).
    ADD COLUMN ausencia_enviada_em timestamptz,
    -- The last "typing..." asked of WhatsApp (rate limit: one per conversation per 10 s).
    ADD COLUMN digitando_em timestamptz,
    -- A conversation opened by a click-to-WhatsApp ad: the referral message's time, and the
    -- end of the 72 h free entry point once our first reply went within 24 h of it.
    ADD COLUMN anuncio_em timestamptz,
    ADD COLUMN free_entry_point_ate timestamptz;

-- Metrics (GET /relatorios/atendimento): conversations by creation time and by closing time.
CREATE INDEX idx_conversa_created ON conversas (created_at);
CREATE INDEX idx_conversa_closed ON conversas (closed_at) WHERE closed_at IS NOT NULL;
-- Load per attendant for the distribution (active conversations of each assignee).
CREATE INDEX idx_conversa_atendente_ativa ON conversas (atendente_id) WHERE status = 'ativa';
