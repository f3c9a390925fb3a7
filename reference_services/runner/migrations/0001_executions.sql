CREATE TABLE executions (
    alt_id      uuid PRIMARY KEY,
    last_id     uuid NOT NULL UNIQUE,
    command_id  uuid NOT NULL,
    last        jsonb NOT NULL,
    alt         jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX executions_command_id ON executions (command_id);
