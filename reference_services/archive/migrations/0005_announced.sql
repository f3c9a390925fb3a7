-- The version of each record last announced on altlas.atlas.updated (a change of its status).
-- A change commits first and is announced after; one whose announcement failed stays behind
-- here, and the catch-up loop announces it: caches of the archive (the gateway's) learn of every
-- change, however late. A new record is announced by altlas.atlas.created, so version 1 counts
-- as announced; the rows already stored count as announced as they are.
ALTER TABLE atlas ADD COLUMN announced_version integer NOT NULL DEFAULT 1;
UPDATE atlas SET announced_version = version;
CREATE INDEX atlas_unannounced ON atlas (id) WHERE announced_version < version;
