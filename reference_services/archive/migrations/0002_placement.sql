-- The concrete OpenSearch index that holds each record (its placement): a change of the record
-- is written there, not to the write alias, which a rollover may have moved since.
-- NULL: not indexed yet, or indexed before placements were kept (then the write alias).
ALTER TABLE atlas ADD COLUMN index_name text;
