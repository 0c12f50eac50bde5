-- 0008: LGPD (export and anonymisation on request) and the cost report.
--
-- Anonymisation keeps what the school needs for its own accounting (direction, timestamps,
-- types, delivery statuses, billing) and wipes everything that says who the person is or
-- what they wrote. The rules that wipe a message live here, in the database, so that every
-- writer that touches the row later (a late status webhook, a media job already on the
-- queue, a redelivered payload) leaves it wiped without knowing about LGPD.

-- EXTENSION: mensagens.anonimizada marks a message of a contact anonymised on request. The
-- trigger below fires only for marked rows (WHEN clause), so ordinary writes pay nothing.
ALTER TABLE mensagens ADD COLUMN anonimizada boolean NOT NULL DEFAULT false;

-- What of a message's `dados` survives anonymisation: the delivery statuses reduced to their
-- status word, time, pricing and conversation (no recipient_id: that is the phone number),
-- error codes and titles (Meta's generic text, never our customer's), and the template's
-- name/language/category (not its parameters, which carry names). Everything else (text,
-- captions, file names, coordinates, contact cards, reply context, referral) goes.
CREATE FUNCTION lgpd_dados_mensagem(dados jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
SELECT jsonb_strip_nulls(jsonb_build_object(
    'statuses', (
        SELECT jsonb_object_agg(s.key, jsonb_strip_nulls(jsonb_build_object(
            'status', s.value -> 'status',
            'timestamp', s.value -> 'timestamp',
            'pricing', s.value -> 'pricing',
            'conversation', s.value -> 'conversation')))
        FROM jsonb_each(CASE WHEN jsonb_typeof(dados -> 'statuses') = 'object'
                             THEN dados -> 'statuses' ELSE '{}'::jsonb END) AS s
        WHERE jsonb_typeof(s.value) = 'object'
    ),
    'errors', (
        SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object('code', e -> 'code', 'title', e -> 'title')))
        FROM jsonb_array_elements(CASE WHEN jsonb_typeof(dados -> 'errors') = 'array'
                                       THEN dados -> 'errors' ELSE '[]'::jsonb END) AS e
        WHERE jsonb_typeof(e) = 'object'
    ),
    'template', CASE WHEN jsonb_typeof(dados -> 'template') = 'object' THEN jsonb_strip_nulls(jsonb_build_object(
        'name', dados -> 'template' -> 'name',
        'language', dados -> 'template' -> 'language',
        'category', dados -> 'template' -> 'category')) END
))
$$;

-- An anonymised message stays wiped: text, dados (as above) and every media field, on every
-- UPDATE, and the mark itself cannot be taken back. This is what makes a status webhook that
-- arrives after the erasure (it carries recipient_id) or a media job that was already queued
-- (it sets media_url) unable to write personal data back. Clearing media_type also keeps a
-- redelivered media message from looking "pending" to the webhook's duplicate check, so no
-- media job is enqueued again for it.
CREATE FUNCTION mensagens_manter_anonimizada() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.anonimizada := true;
    NEW.conteudo := '';
    NEW.dados := lgpd_dados_mensagem(NEW.dados);
    NEW.media_type := NULL;
    NEW.media_url := NULL;
    NEW.media_mime := NULL;
    NEW.thumbnail_url := NULL;
    RETURN NEW;
END;
$$;
CREATE TRIGGER trg_mensagens_anonimizada BEFORE UPDATE ON mensagens
    FOR EACH ROW WHEN (OLD.anonimizada OR NEW.anonimizada)
    EXECUTE FUNCTION mensagens_manter_anonimizada();

-- A media job that was queued before the erasure must not record a file for an anonymised
-- message: the row is silently skipped (the job then finds nothing to point the message at).
CREATE FUNCTION media_files_recusar_anonimizada() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM mensagens WHERE id = NEW.mensagem_id AND anonimizada) THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER trg_media_files_anonimizada BEFORE INSERT ON media_files
    FOR EACH ROW EXECUTE FUNCTION media_files_recusar_anonimizada();

-- Anonymisation is irreversible: no UPDATE may turn contatos.anonimizado back to false.
CREATE FUNCTION contatos_anonimizado_irreversivel() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'contato % foi anonimizado; a anonimização é irreversível', OLD.id
        USING ERRCODE = 'check_violation';
END;
$$;
CREATE TRIGGER trg_contatos_anonimizado_irreversivel BEFORE UPDATE ON contatos
    FOR EACH ROW WHEN (OLD.anonimizado AND NOT NEW.anonimizado)
    EXECUTE FUNCTION contatos_anonimizado_irreversivel();

-- The cost report (GET /relatorios/custos) scans outbound messages by date range: a partial
-- index on created_at for direcao = 'saida' only (inbound messages are never billed), with
-- the grouped columns included so the range scan finds them in the index.
CREATE INDEX idx_mensagens_saida_created ON mensagens (created_at)
    INCLUDE (billing_category, status_envio) WHERE direcao = 'saida';
