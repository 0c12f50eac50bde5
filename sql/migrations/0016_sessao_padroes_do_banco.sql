-- Session defaults owned by the database, not by each connection (issue 15).
--
-- Until now every new connection ran `SET statement_timeout` and `SET TIME ZONE 'UTC'`.
-- Deployed, connections go through RDS Proxy, and a session that runs SET is pinned to one
-- database connection for its whole life: no multiplexing, one database connection per warm
-- Lambda again. As database defaults the values hold for every new session with no statement.
--
-- ALTER DATABASE rather than ALTER ROLE: it covers whichever user runs the migrations and
-- whichever the app connects as (the same `crm` user in AWS; `postgres` in the test suite).
-- The database is named at run time: the same file migrates `crm`, the test suite's scratch
-- databases and the benchmarks' own. Only new sessions see the values.
DO $$
BEGIN
    -- 15 s: half the functions' 30 s timeout, so the database gives up first and the
    -- answer is a clean 503, not a Lambda timeout. DB_STATEMENT_TIMEOUT_MS overrides it per
    -- process where it is set (with a SET, so not in the deployed functions).
    EXECUTE format('ALTER DATABASE %I SET statement_timeout = %L', current_database(), '15s');
    -- Timestamps are stored as timestamptz; UTC keeps text casts and date_trunc stable.
    EXECUTE format('ALTER DATABASE %I SET timezone = %L', current_database(), 'UTC');
END
$$;
