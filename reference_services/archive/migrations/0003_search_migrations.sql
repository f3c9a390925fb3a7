-- A version OpenSearch refused for good (a mapping error, not an outage): the catch-up does not
-- retry it until the record changes again; `altlas-archive index status` counts such rows.
ALTER TABLE atlas ADD COLUMN rejected_version integer;
ALTER TABLE atlas ADD COLUMN rejected_reason text;
DROP INDEX atlas_unindexed;
CREATE INDEX atlas_unindexed ON atlas (id)
    WHERE indexed_version < version AND rejected_version IS DISTINCT FROM version;

-- `altlas-archive migrate`: one row per migration to a new index version.
CREATE TABLE search_migrations (
    target        text PRIMARY KEY,             -- the new index, <prefix>-v<N>-000001
    version       integer NOT NULL,
    design        text NOT NULL,                -- design digest the new index is built from
    source        text[] NOT NULL,              -- the indices behind the read alias before
    source_write  text,                         -- ... and the write index
    state         text NOT NULL CHECK (state IN ('backfilling', 'done', 'rolled_back')),
    started_at    timestamptz NOT NULL DEFAULT now(),
    swapped_at    timestamptz,
    finished_at   timestamptz
);
-- What the migration copied: each record's version in the new index and where it was before
-- (its placement, for a rollback); or why OpenSearch refused it.
CREATE TABLE search_migration_rows (
    target        text NOT NULL REFERENCES search_migrations (target) ON DELETE CASCADE,
    id            uuid NOT NULL,
    version       integer NOT NULL,
    source_index  text,
    rejected      text,
    PRIMARY KEY (target, id)
);
