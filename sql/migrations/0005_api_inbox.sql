-- 0005: the attendants' API: sign-in lockout, inbox ordering and unread counts, keyset
-- pagination indexes, one lead per contact.

-- Failed sign-ins, per email, kept in PostgreSQL because Lambdas share no memory. Five inside
-- 15 minutes lock that email until the oldest of them leaves the window. Old rows are pruned
-- by the login path itself (anything older than the window is useless).
CREATE TABLE login_tentativas (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email       varchar(255) NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_login_tentativas_email ON login_tentativas (email, created_at);

-- conversas: what the inbox sorts and badges by, kept on the row so a page is one index scan.
ALTER TABLE conversas
    -- Newest message (either direction) or the conversation's creation: the inbox order.
    ADD COLUMN ultima_atividade_em  timestamptz NOT NULL DEFAULT now(),
    -- Inbound messages since an attendant last marked the conversation read.
    ADD COLUMN nao_lidas            integer NOT NULL DEFAULT 0 CHECK (nao_lidas >= 0),
    -- When it was last marked read (POST /conversas/{id}/lida).
    ADD COLUMN lida_em              timestamptz;

UPDATE conversas c SET
    ultima_atividade_em = greatest(c.created_at, coalesce(m.ultima, c.created_at)),
    nao_lidas = m.entrada
FROM (
    SELECT conversa_id, max(created_at) AS ultima, count(*) FILTER (WHERE direcao = 'entrada') AS entrada
    FROM mensagens GROUP BY conversa_id
) m
WHERE m.conversa_id = c.id;
UPDATE conversas SET ultima_atividade_em = created_at
WHERE ultima_atividade_em > created_at AND NOT EXISTS (SELECT 1 FROM mensagens m WHERE m.conversa_id = conversas.id);

-- Every writer of mensagens (webhook, sending, imports) keeps the two counters right without
-- knowing about them: one statement-level trigger, set-based over the inserted rows, so a
-- batch insert costs one UPDATE per statement, not one per message.
CREATE FUNCTION conversas_registrar_mensagens() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversas c SET
        ultima_atividade_em = greatest(c.ultima_atividade_em, n.ultima),
        nao_lidas = c.nao_lidas + n.entrada
    FROM (
        SELECT conversa_id, max(created_at) AS ultima,
               count(*) FILTER (WHERE direcao = 'entrada')::integer AS entrada
        FROM novas GROUP BY conversa_id
    ) n
    WHERE c.id = n.conversa_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER trg_mensagens_atividade AFTER INSERT ON mensagens
    REFERENCING NEW TABLE AS novas
    FOR EACH STATEMENT EXECUTE FUNCTION conversas_registrar_mensagens();

-- Inbox pages: keyset on (ultima_atividade_em, id), newest first; one index per common filter.
CREATE INDEX idx_conversas_atividade ON conversas (ultima_atividade_em DESC, id DESC);
CREATE INDEX idx_conversas_atendente_atividade ON conversas (atendente_id, ultima_atividade_em DESC, id DESC);
CREATE INDEX idx_conversas_status_atividade ON conversas (status, ultima_atividade_em DESC, id DESC);

-- Message pages and the inbox's last-message preview: newest first with a stable tiebreak.
CREATE INDEX idx_mensagens_conversa_recentes ON mensagens (conversa_id, created_at DESC, id DESC);

-- Contact timeline and contact list pages.
CREATE INDEX idx_eventos_contato_recentes ON eventos (contato_id, created_at DESC, id DESC);
CREATE INDEX idx_contatos_recentes ON contatos (created_at DESC, id DESC);

-- One lead record per contact: PUT /contatos/{id}/interessado upserts on it.
DROP INDEX idx_interessado_contato;
CREATE UNIQUE INDEX idx_interessado_contato ON interessados (contato_id);
ALTER TABLE interessados ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE TRIGGER trg_interessados_updated_at BEFORE UPDATE ON interessados
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
