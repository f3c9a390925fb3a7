CREATE TABLE atlas (
    id               uuid PRIMARY KEY,
    last_id          uuid NOT NULL UNIQUE,
    alt_id           uuid NOT NULL,
    command_id       uuid NOT NULL,
    status           text NOT NULL CHECK (status IN ('active', 'archived', 'deleted')),
    doc              jsonb NOT NULL,
    version          integer NOT NULL DEFAULT 1,
    -- The version last written to OpenSearch; behind `version` means the index must catch up.
    indexed_version  integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX atlas_command_id ON atlas (command_id);
CREATE INDEX atlas_unindexed ON atlas (id) WHERE indexed_version < version;
