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
