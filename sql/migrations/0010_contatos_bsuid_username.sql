-- 0010: WhatsApp usernames and business-scoped user ids (BSUID), issue 11.
--
-- Since April 2026 Meta adds a business-scoped user id to every messages webhook
-- (`contacts[].user_id`, `messages[].from_user_id`, `statuses[].recipient_user_id`) and
-- omits the phone number (`wa_id`, `from`) of username users who have no recent interaction
-- with the business. A contact is therefore identified by its phone number, its BSUID, or
-- both (docs/identity.md): telefone becomes optional, and a contact must have one of the two.

-- EXTENSION: contatos.bsuid, e.g. 'BR.1502576394655843' (ISO country code, a dot, up to 128
-- alphanumerics; Meta may widen it, so the length is generous and the format unchecked here:
-- the webhook validates what it stores). Unique: one person per BSUID within our portfolio.
-- bsuid_pai is the "parent" form ('US.ENT.…') Meta shares across linked portfolios; kept
-- for reference, never matched on (it is not ours alone). username is the user's WhatsApp
-- username: it changes, the latest is kept here and the history in eventos
-- ('username_alterado').
ALTER TABLE contatos
    ALTER COLUMN telefone DROP NOT NULL,
    ADD COLUMN bsuid      varchar(160),
    ADD COLUMN bsuid_pai  varchar(160),
    ADD COLUMN username   varchar(100),
    ADD CONSTRAINT contatos_telefone_ou_bsuid CHECK (telefone IS NOT NULL OR bsuid IS NOT NULL);

-- The webhook finds contacts by BSUID first (one probe per sender), as it does by telefone.
CREATE UNIQUE INDEX idx_contato_bsuid ON contatos (bsuid) WHERE bsuid IS NOT NULL;

-- The contacts and inbox screens search by username too (ILIKE '%…%', like nome): a trigram
-- index would need pg_trgm, which the other name columns do without as well; the contact
-- list is small and already scanned for nome.

-- EXTENSION: contatos.nome_exibicao, what every screen and notification shows for a contact:
-- the name (an attendant's or the profile's), else the username, else the phone number, and
-- never an empty string (a username user may have neither a profile name nor a number).
-- Generated, so every reader of contatos (inbox, contacts, push, exports) gets the same rule.
ALTER TABLE contatos ADD COLUMN nome_exibicao text GENERATED ALWAYS AS (
    coalesce(
        nullif(btrim(nome), ''),
        nullif(btrim(nome_perfil), ''),
        CASE WHEN nullif(btrim(username), '') IS NULL THEN NULL
             WHEN username LIKE '@%' THEN username ELSE '@' || username END,
        telefone,
        'Contato do WhatsApp')
) STORED;

-- Message edits and revokes (`type: edit` / `type: revoke` in messages and message echoes)
-- are not messages of their own: each changes an earlier message, found by its wamid. They
-- are kept here, one row per edit/revoke wamid (a redelivery changes nothing), and applied
-- once (aplicada_em) to the original; one whose original has not arrived yet (webhooks come
-- out of order) waits here and is applied when the original is stored.
CREATE TABLE mensagens_alteracoes (
    whatsapp_id           varchar(255) PRIMARY KEY,
    original_whatsapp_id  varchar(255) NOT NULL,
    tipo                  varchar(10) NOT NULL CHECK (tipo IN ('edit', 'revoke')),
    conteudo              text,
    dados                 jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at            timestamptz NOT NULL,
    aplicada_em           timestamptz
);
-- Pending (orphan) changes are looked up by the original's wamid when messages arrive.
CREATE INDEX idx_mensagens_alteracoes_pendentes ON mensagens_alteracoes (original_whatsapp_id)
    WHERE aplicada_em IS NULL;
