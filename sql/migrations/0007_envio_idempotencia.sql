-- 0007: sending. Idempotency keys of POST /conversas/{id}/mensagens, so a retried request
-- (a flaky mobile connection, a double click, two tabs) returns the first result instead of
-- sending the message to the customer twice.
--
-- The primary key is the arbiter: of two concurrent requests with one key exactly one INSERT
-- wins; the other reads the winner's row and waits for its result.
CREATE TABLE envio_idempotencia (
    -- Keys are scoped per admin: two browsers may invent the same key, and one admin must
    -- never be answered with another admin's stored response.
    admin_id      uuid NOT NULL REFERENCES administradores (id) ON DELETE CASCADE,
    -- The client's Idempotency-Key header.
    chave         varchar(255) NOT NULL CHECK (btrim(chave) <> ''),
    -- sha256 of the conversation id and the canonical JSON body: one key reused for a
    -- different request is refused instead of silently answering with the wrong message.
    request_hash  char(64) NOT NULL,
    conversa_id   uuid NOT NULL REFERENCES conversas (id) ON DELETE CASCADE,
    -- The message this request stored (set as soon as it exists); kept as history if the
    -- message is deleted.
    mensagem_id   uuid REFERENCES mensagens (id) ON DELETE SET NULL,
    -- NULL while the first request is still sending; then the HTTP status it answered.
    status_code   smallint,
    -- The stored answer (body and headers) a retry gets back verbatim.
    resposta      jsonb,
    resposta_headers jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz,
    PRIMARY KEY (admin_id, chave),
    CHECK ((status_code IS NULL) = (completed_at IS NULL))
);
-- Keys expire after 24 h (a retry after that is a new request); this serves the cleanup.
CREATE INDEX idx_envio_idempotencia_created ON envio_idempotencia (created_at);
