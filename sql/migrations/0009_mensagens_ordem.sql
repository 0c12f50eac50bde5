-- 0009: a stable order for messages of the same second.
--
-- WhatsApp timestamps are whole seconds and mensagens.id is a random uuid, so ordering by
-- (created_at, id) shuffled messages that share a second (a reaction listed before the text
-- it reacts to). EXTENSION: mensagens.seq numbers rows in insertion order; every message
-- list orders by (created_at, seq) and the message page's cursor is (created_at, seq).
-- The webhook inserts the messages of one payload in payload order (within a second), the
-- sender inserts one row per request, so seq follows the order WhatsApp and the attendants
-- produced them. Rows that already exist are numbered in the order the table rewrite reads
-- them (roughly insertion order): their relative order within one second was arbitrary anyway.
ALTER TABLE mensagens ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;

-- The message pages and the inbox's last-message preview (a LATERAL probe per conversation)
-- read this index in order, newest first. It replaces 0005's (conversa_id, created_at DESC,
-- id DESC) under the same name; 0001's seed index idx_mensagem_conversa stays as specified.
DROP INDEX idx_mensagens_conversa_recentes;
CREATE INDEX idx_mensagens_conversa_recentes ON mensagens (conversa_id, created_at DESC, seq DESC);

-- The scheduled sweep of unconfirmed sends (outbound messages still pendente without a wamid
-- minutes after the request, e.g. its Lambda was killed mid-call) finds them here. The
-- index holds only those rows (normally none), so the sweep costs nothing every 5 minutes.
CREATE INDEX idx_mensagens_envio_sem_confirmacao ON mensagens (created_at)
    WHERE direcao = 'saida' AND status_envio = 'pendente' AND whatsapp_id IS NULL;
