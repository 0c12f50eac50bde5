-- 0006: live updates, Web Push and the scheduled jobs.

-- The window expiry job's marker: the window_expires_at value whose closing was already
-- announced (eventos row + conversation:window_closed). A job run handles a conversation
-- only while this differs from window_expires_at, so running it twice handles nothing
-- twice, and a window renewed by a new customer message is announced again when it closes.
ALTER TABLE conversas ADD COLUMN window_closed_handled_for timestamptz;

-- The job's scan: ativa conversations whose window passed and whose closing was not yet
-- announced. Partial, so the index holds only the rows that are still to be handled plus
-- open windows; handled ones drop out of it.
CREATE INDEX idx_conversas_window_pendente ON conversas (window_expires_at)
    WHERE status = 'ativa' AND window_expires_at IS NOT NULL
      AND window_closed_handled_for IS DISTINCT FROM window_expires_at;

-- Announcing a closed window is not an edit of the conversation: the job setting its
-- marker must not move updated_at (the inbox is ordered by it). Same trigger as 0001,
-- skipped only for updates that change the marker (nothing else changes it).
DROP TRIGGER trg_conversas_updated_at ON conversas;
CREATE TRIGGER trg_conversas_updated_at BEFORE UPDATE ON conversas
    FOR EACH ROW
    WHEN (OLD.window_closed_handled_for IS NOT DISTINCT FROM NEW.window_closed_handled_for)
    EXECUTE FUNCTION set_updated_at();
