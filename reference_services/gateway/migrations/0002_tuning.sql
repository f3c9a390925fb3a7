-- Constraints the API already enforces, now held by the table too (a bug or a hand-written
-- INSERT cannot store what no request could).
ALTER TABLE commands ADD CONSTRAINT commands_mode_known
    CHECK (mode IN ('normal', 'dream', 'explore', 'chaos'));
ALTER TABLE commands ADD CONSTRAINT commands_language_known
    CHECK (language IS NULL OR language IN ('tr', 'en'));
ALTER TABLE commands ADD CONSTRAINT commands_chaos_level_with_chaos
    CHECK (chaos_level IS NULL OR (mode = 'chaos' AND chaos_level BETWEEN 1 AND 10));
ALTER TABLE commands ADD CONSTRAINT commands_chaos_has_level
    CHECK (mode <> 'chaos' OR chaos_level IS NOT NULL);

-- A command row is updated once per stage (five times in its life): room on its page lets
-- PostgreSQL update it in place (a HOT update, no index write).
ALTER TABLE commands SET (fillfactor = 80);

-- The outbox is the hottest table: every accepted command inserts a row and the relay updates
-- it within milliseconds. Vacuum it after 1 % of its rows changed, not the default 20 %, so
-- dead rows do not pile up between the relay's polls.
ALTER TABLE outbox SET (
    fillfactor = 90,
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.02
);

-- Published rows are kept one day (the relay prunes them: see relay.py); this index finds them
-- without reading the pending ones.
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;
