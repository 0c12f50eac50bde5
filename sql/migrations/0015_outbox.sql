-- 0015: the outbox of live events and pushes (issue 15 §1).
--
-- A transaction that changes what browsers show writes one row here, in the same
-- transaction, naming what happened (`itens`: [event, subject id, extra] in the order the
-- service named them). The request then answers; the live-events drain (a Lambda fed by a
-- FIFO queue: one drain at a time) reads the rows in id order, builds the payloads from the
-- committed data, delivers them to every WebSocket connection and the pushes they imply,
-- and deletes the rows. A rolled-back transaction leaves no row, so it delivers nothing; a
-- drain that dies before its DELETE leaves the rows for the next one (at least once: each
-- event carries `<row id>-<position>` as its id, the same on a repeat).
--
-- Rows live for seconds: no index besides the primary key (the drain reads the lowest ids),
-- and fillfactor is irrelevant (rows are inserted and deleted, never updated).
CREATE TABLE outbox (
    id         bigserial   PRIMARY KEY,
    itens      jsonb       NOT NULL CHECK (jsonb_typeof(itens) = 'array'),
    created_at timestamptz NOT NULL DEFAULT now()
);
