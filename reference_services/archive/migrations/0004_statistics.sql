-- Archive statistics, served by GET /v1/atlas/stats: records per day (the record's created_at,
-- UTC), status and language (with the mean success rate), and per day and tag. Materialized, because counting a table that grows
-- without bound on every request does not scale; refreshed CONCURRENTLY by the archive (every
-- ALTLAS_STATS_REFRESH_S), so readers are never blocked. CONCURRENTLY needs a unique index.
CREATE MATERIALIZED VIEW atlas_daily AS
    SELECT ((doc->>'created_at')::timestamptz AT TIME ZONE 'UTC')::date AS day,
           status,
           COALESCE(doc->>'language', '') AS language,
           count(*) AS records,
           avg((doc->>'success_rate')::float8) AS mean_success_rate
    FROM atlas
    GROUP BY 1, 2, 3;
CREATE UNIQUE INDEX atlas_daily_key ON atlas_daily (day, status, language);

CREATE MATERIALIZED VIEW atlas_daily_tags AS
    SELECT ((a.doc->>'created_at')::timestamptz AT TIME ZONE 'UTC')::date AS day, t.tag,
           count(*) AS records
    FROM atlas a CROSS JOIN LATERAL jsonb_array_elements_text(a.doc->'tags') AS t (tag)
    GROUP BY 1, 2;
CREATE UNIQUE INDEX atlas_daily_tags_key ON atlas_daily_tags (day, tag);

-- When the views were last refreshed (one row).
CREATE TABLE atlas_stats_refreshed (
    only_row      boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    refreshed_at  timestamptz NOT NULL
);
