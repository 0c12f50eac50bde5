-- 0011: security and LGPD hardening (issue 16).
--
-- Sessions that end. A token names the account and the account's `token_version`; the
-- authorizer (and the websocket $connect) accept it only while the account exists, is
-- `ativo` and still has that version. Resetting a password or deactivating the account
-- bumps the version, which ends every session issued before.
--
-- Roles. `papel` is 'admin' (manages the team: creates and deactivates accounts) or
-- 'atendente' (works the inbox). Accounts that exist now were all created as administrators,
-- so they become 'admin'; accounts created from now on default to 'atendente'.
ALTER TABLE administradores
    ADD COLUMN papel         varchar(20) NOT NULL DEFAULT 'admin' CHECK (papel IN ('admin', 'atendente')),
    ADD COLUMN token_version integer     NOT NULL DEFAULT 1 CHECK (token_version > 0),
    ADD COLUMN ativo         boolean     NOT NULL DEFAULT true,
    ADD COLUMN desativado_em timestamptz,
    ADD CONSTRAINT administradores_desativado_coerente CHECK (ativo = (desativado_em IS NULL));
ALTER TABLE administradores ALTER COLUMN papel SET DEFAULT 'atendente';

-- Lockout per source and e-mail. Failures were counted per e-mail only, so anyone anywhere
-- could keep an attendant locked out by failing five times. Now a failure records where it
-- came from (the caller's IP as API Gateway saw it): five failures lock that e-mail from that
-- source only, and one source failing on many e-mails (a spray) is locked for all of them.
ALTER TABLE login_tentativas ADD COLUMN origem varchar(64) NOT NULL DEFAULT '';
DROP INDEX idx_login_tentativas_email;
CREATE INDEX idx_login_tentativas_email_origem ON login_tentativas (email, origem, created_at);
CREATE INDEX idx_login_tentativas_origem ON login_tentativas (origem, created_at);

-- Template status webhooks in the order Meta made them: the entry's `time` of the newest
-- status applied. A replayed or late APPROVED older than a PAUSED already applied changes
-- nothing. NULL: no webhook with a time has set the status yet.
ALTER TABLE templates ADD COLUMN status_webhook_at timestamptz;
