-- 0003: the inbound webhook (issue 3): statuses that arrive before their message, and
-- idempotent eventos rows.

-- EXTENSION: a delivery status whose wamid is not stored yet. WhatsApp may report `sent`
-- (even `delivered`) before the send call that created the message has returned and stored
-- its whatsapp_id. The status waits here and is applied, with the same forward-only rules,
-- when the message appears (repositories.mensagens.apply_pending_statuses).
CREATE TABLE whatsapp_status_pendentes (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    whatsapp_id       varchar(255) NOT NULL,
    -- Meta's status word as sent (sent, delivered, read, played, failed, or a new one).
    status            varchar(50) NOT NULL,
    -- Our status_envio for it; NULL for a status word we do not know (kept in dados only).
    status_envio      status_envio,
    -- pricing.category mapped to our enum; NULL when absent or not one of ours.
    billing_category  billing_category,
    errors            jsonb,
    -- The whole status object as WhatsApp sent it.
    payload           jsonb NOT NULL,
    status_at         timestamptz,
    received_at       timestamptz NOT NULL DEFAULT now(),
    -- A redelivered status is the same fact: keep one.
    CONSTRAINT whatsapp_status_pendentes_unico UNIQUE (whatsapp_id, status)
);
-- Old orphans (a status of a message that never got stored) can be pruned by age.
CREATE INDEX idx_status_pendentes_received ON whatsapp_status_pendentes (received_at);

-- EXTENSION: eventos.chave, an optional idempotency key. WhatsApp redelivers payloads (even
-- concurrently); an event written with a key (e.g. 'opt_out:<wamid>', 'contato_criado:<id>')
-- is written once however often its payload arrives. Rows without a key are unaffected.
ALTER TABLE eventos ADD COLUMN chave varchar(300);
CREATE UNIQUE INDEX idx_eventos_chave ON eventos (chave) WHERE chave IS NOT NULL;
