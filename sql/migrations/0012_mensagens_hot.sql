-- 0012: status webhooks update messages in place (HOT updates).
--
-- A status webhook changes a sent message's status_envio, billing_category, dados and
-- updated_at. PostgreSQL can update a row without touching any index (a HOT update: no new
-- index entries, no index bloat, far less WAL) only when no indexed column changes and the
-- page has room. Two indexes named status_envio or billing_category, so none of the ~3 status
-- webhooks per sent message was HOT (0 of 2,000 measured).
--
-- The cost report's index keeps its range on created_at (outbound only) without INCLUDE:
-- the report reads the few columns it groups by from the rows of the chosen month.
DROP INDEX idx_mensagens_saida_created;
CREATE INDEX idx_mensagens_saida_created ON mensagens (created_at) WHERE direcao = 'saida';

-- The unconfirmed-send sweep's partial index no longer tests status_envio in its predicate
-- (a predicate column counts as indexed): outbound rows still without a wamid are pendente
-- or failed before WhatsApp answered; the sweep rechecks `pendente` on the row.
DROP INDEX idx_mensagens_envio_sem_confirmacao;
CREATE INDEX idx_mensagens_envio_sem_confirmacao ON mensagens (created_at)
    WHERE direcao = 'saida' AND whatsapp_id IS NULL;

-- Room on each page for the new row versions of HOT updates (new pages only; old pages get
-- it as they are rewritten). 70, not 90: every status adds its payload to dados, so a row
-- grows by a few hundred bytes per tick; measured on a 200-message broadcast (three rounds of
-- statuses), 90 made 11-26 % of the updates HOT, 70 made 20-65 %, before this migration 0 %.
ALTER TABLE mensagens SET (fillfactor = 70);
