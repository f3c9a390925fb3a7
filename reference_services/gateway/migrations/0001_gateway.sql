CREATE TABLE users (
    username       text PRIMARY KEY,
    password_hash  text NOT NULL,
    roles          text[] NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE commands (
    id               uuid PRIMARY KEY,
    username         text NOT NULL REFERENCES users (username),
    command          text NOT NULL,
    mode             text NOT NULL,
    chaos_level      integer,
    persona          text,
    language         text,
    metadata         jsonb NOT NULL DEFAULT '{}'::jsonb,
    status           text NOT NULL DEFAULT 'accepted',
    status_detail    text,
    alt_id           uuid,
    last_id          uuid,
    atlas_id         uuid,
    idempotency_key  text,
    request_hash     text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (username, idempotency_key)
);
CREATE INDEX commands_username ON commands (username, created_at DESC);

-- Written in the same transaction as the command; the relay publishes and marks it.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    event_id      text NOT NULL UNIQUE,
    subject       text NOT NULL,
    payload       jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;

-- The alt/last/atlas documents of each command, as the projection received them.
CREATE TABLE command_documents (
    command_id  uuid NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('alt', 'last', 'atlas')),
    doc         jsonb NOT NULL,
    PRIMARY KEY (command_id, kind)
);
