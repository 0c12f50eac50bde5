-- 0014: the rate card of the cost report (issue 14 §4), in reais, versioned by date.
--
-- Meta changes WhatsApp's prices (per conversation until 2025-06-30, per delivered template
-- message since 2025-07-01) and bills per category of the recipient's market. A row says:
-- from `vigente_desde` (a São Paulo day) on, one billed message of `categoria` costs
-- `valor_brl`. The report applies to each message the row of its category with the latest
-- `vigente_desde` not after the message's São Paulo day; a message earlier than every row of
-- its category is "sem tarifa" and counted apart. Admins add a row when Meta's prices change,
-- so reports of earlier days keep their figures (saving the same category and day again
-- corrects that row).
CREATE TABLE tarifas (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    categoria     billing_category NOT NULL,
    vigente_desde date             NOT NULL,
    valor_brl     numeric(12, 4)   NOT NULL CHECK (valor_brl >= 0),
    observacao    varchar(500),
    criado_por    uuid REFERENCES administradores (id) ON DELETE SET NULL,
    created_at    timestamptz      NOT NULL DEFAULT now(),
    UNIQUE (categoria, vigente_desde)
);

-- Seed: Brazil's rates in Meta's per-message card effective 2025-07-01 and unchanged in the
-- card effective 2026-01-01 (USD 0.0625 marketing, 0.0068 utility, 0.0068 authentication;
-- service free), as published by a Meta partner (talkall.com.br/en/novidades/tarifas-whatsapp-2026)
-- and the July 2025 country table (docs.sent.dm/docs/guides/whatsapp-pricing), converted at
-- an assumed R$ 5,40 per US$ 1. AN ESTIMATE: Meta bills in the account's currency at its own
-- rate and volume tiers lower utility/authentication prices; admins should replace these rows
-- with the school's invoice figures.
INSERT INTO tarifas (categoria, vigente_desde, valor_brl, observacao) VALUES
    ('marketing',      '2025-07-01', 0.3375, 'Estimativa: US$ 0,0625 (tabela Meta Brasil) a R$ 5,40'),
    ('utility',        '2025-07-01', 0.0367, 'Estimativa: US$ 0,0068 (tabela Meta Brasil) a R$ 5,40'),
    ('authentication', '2025-07-01', 0.0367, 'Estimativa: US$ 0,0068 (tabela Meta Brasil) a R$ 5,40'),
    ('service',        '2025-07-01', 0.0000, 'Mensagens de serviço são gratuitas');
