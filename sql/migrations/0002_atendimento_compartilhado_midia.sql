-- 0002: the "atendimento compartilhado e mídia" seed: shared attendance, the 24 h window,
-- billing, media files, templates and Web Push; plus DESIGN §5's deliberate extensions,
-- each marked EXTENSION with its reason.
--
-- ALTER TYPE ... ADD VALUE may run inside this transaction, but the new values cannot be
-- used before it commits, so nothing below uses them (no defaults, no index predicates).

CREATE TYPE media_type AS ENUM ('image', 'audio', 'document', 'video', 'location');
CREATE TYPE template_category AS ENUM ('utility', 'marketing', 'authentication');
-- The seed's three statuses plus the ones Meta reports, so a sync never has to drop a row.
CREATE TYPE template_status AS ENUM (
    'approved', 'pending', 'rejected',
    'paused', 'disabled', 'in_appeal', 'pending_deletion', 'deleted', 'archived', 'limit_exceeded'
);
CREATE TYPE billing_category AS ENUM ('service', 'utility', 'marketing', 'authentication');

ALTER TYPE tipo_mensagem ADD VALUE 'template';
ALTER TYPE tipo_mensagem ADD VALUE 'media';
-- Voice notes report "played" after "read"; the enum order is the delivery order.
ALTER TYPE status_envio ADD VALUE 'reproduzida' AFTER 'lida';
-- Inbound messages are received, not sent.
ALTER TYPE status_envio ADD VALUE 'recebida';

-- contatos: LGPD consent and anonymisation.
ALTER TABLE contatos
    ADD COLUMN opt_in_status  boolean NOT NULL DEFAULT false,
    ADD COLUMN opt_in_at      timestamptz,
    ADD COLUMN opt_in_source  varchar(50),
    ADD COLUMN anonimizado    boolean NOT NULL DEFAULT false,
    -- EXTENSION: the WhatsApp id last seen, used as the send address (it can differ from
    -- telefone, e.g. a Brazilian mobile without its ninth digit).
    ADD COLUMN wa_id          varchar(32),
    -- EXTENSION: the WhatsApp profile name as last reported, and whether an attendant set
    -- `nome` (then the profile name never overwrites it).
    ADD COLUMN nome_perfil    varchar(200),
    ADD COLUMN nome_editado   boolean NOT NULL DEFAULT false;
CREATE INDEX idx_contatos_wa_id ON contatos (wa_id) WHERE wa_id IS NOT NULL;

-- conversas: who attends it, since when, the window and its billing.
ALTER TABLE conversas
    ADD COLUMN atendente_id       uuid REFERENCES administradores (id) ON DELETE SET NULL,
    ADD COLUMN atribuida_em       timestamptz,
    ADD COLUMN billing_category   billing_category,
    ADD COLUMN window_expires_at  timestamptz,
    ADD CONSTRAINT conversas_atribuicao_coerente CHECK (atendente_id IS NULL OR atribuida_em IS NOT NULL);

-- templates before mensagens.template_id can reference it.
CREATE TABLE templates (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    whatsapp_id     varchar(100) UNIQUE,
    name            varchar(512) NOT NULL,
    category        template_category NOT NULL,
    status          template_status NOT NULL DEFAULT 'pending',
    language        varchar(15) NOT NULL,
    body            text,
    components      jsonb NOT NULL DEFAULT '[]'::jsonb,
    variables       jsonb NOT NULL DEFAULT '[]'::jsonb,
    last_synced_at  timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- EXTENSION: unique on (name, language), not name alone: Meta keys a template by both,
    -- and one name commonly exists in pt_BR and en_US.
    CONSTRAINT templates_name_language_key UNIQUE (name, language)
);
CREATE TRIGGER trg_templates_updated_at BEFORE UPDATE ON templates
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- mensagens: template, media and billing.
ALTER TABLE mensagens
    -- A deleted template must not delete the history that used it.
    ADD COLUMN template_id       uuid REFERENCES templates (id) ON DELETE SET NULL,
    ADD COLUMN media_type        media_type,
    ADD COLUMN media_url         text,
    ADD COLUMN media_mime        varchar(255),
    ADD COLUMN thumbnail_url     text,
    ADD COLUMN billing_category  billing_category,
    -- EXTENSION: the type-specific remainder of a WhatsApp message (interactive ids,
    -- reaction target, coordinates, contact cards, reply context, referral, errors).
    -- Nothing WhatsApp sends is dropped.
    ADD COLUMN dados             jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- EXTENSION: statuses and media change a message after it is stored.
    ADD COLUMN updated_at        timestamptz NOT NULL DEFAULT now();
CREATE TRIGGER trg_mensagens_updated_at BEFORE UPDATE ON mensagens
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE media_files (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    mensagem_id        uuid NOT NULL REFERENCES mensagens (id) ON DELETE CASCADE,
    whatsapp_media_id  varchar(100),
    original_url       text,
    storage_key        varchar(255) NOT NULL,
    storage_url        text,
    mime_type          varchar(255) NOT NULL,
    size_bytes         integer NOT NULL CHECK (size_bytes >= 0),
    thumbnail_key      varchar(255),
    thumbnail_url      text,
    created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE push_subscriptions (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    admin_id    uuid NOT NULL REFERENCES administradores (id) ON DELETE CASCADE,
    endpoint    text NOT NULL UNIQUE CHECK (endpoint LIKE 'https://%'),
    p256dh      text NOT NULL,
    auth        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- EXTENSION: open websocket connections (API Gateway connection ids), per admin.
CREATE TABLE ws_conexoes (
    connection_id  varchar(128) PRIMARY KEY,
    admin_id       uuid NOT NULL REFERENCES administradores (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_ws_conexoes_admin ON ws_conexoes (admin_id);

-- The seed's six indexes, as named there.
CREATE INDEX idx_conversas_atendente ON conversas (atendente_id) WHERE atendente_id IS NOT NULL;
CREATE INDEX idx_conversas_window ON conversas (window_expires_at) WHERE status = 'ativa';
CREATE INDEX idx_media_files_mensagem ON media_files (mensagem_id);
CREATE UNIQUE INDEX idx_media_files_whatsapp ON media_files (whatsapp_media_id);
CREATE INDEX idx_templates_category ON templates (category) WHERE status = 'approved';
CREATE INDEX idx_push_admin ON push_subscriptions (admin_id);
