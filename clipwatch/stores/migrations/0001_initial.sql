-- clipwatch's PostgreSQL store (clipwatch.stores.postgres). Numbered files run once each, in order, every one
-- in its own transaction; schema_migrations records which have.

-- The feedback count, one row: an append takes its row lock, so concurrent appends from every
-- replica are numbered without gaps and a crossing of a multiple of k is seen exactly once.
CREATE TABLE feedback_counter (
    id   smallint PRIMARY KEY CHECK (id = 1),
    rows bigint NOT NULL CHECK (rows >= 0)
);
INSERT INTO feedback_counter VALUES (1, 0);

-- prod_data.csv's rows. seq is the row's position from 0, in acknowledgement order.
CREATE TABLE feedback (
    seq           bigint PRIMARY KEY,
    created       timestamptz NOT NULL DEFAULT now(),
    target        text NOT NULL,
    prediction    text NOT NULL,
    prediction_id text NOT NULL DEFAULT '',
    model_version text NOT NULL DEFAULT '',
    confidence    real,
    vector        bytea NOT NULL  -- float32, little-endian
);

-- Predictions, kept for CLIPWATCH_PREDICTION_TTL_S so feedback by id finds the vector on any replica.
CREATE TABLE predictions (
    id            text PRIMARY KEY,
    created       timestamptz NOT NULL DEFAULT now(),
    model_version text NOT NULL,
    label         text NOT NULL,
    confidence    real NOT NULL,
    filename      text NOT NULL DEFAULT '',
    vector        bytea NOT NULL
);
CREATE INDEX predictions_created ON predictions (created);

-- The embedding the stored vectors were built under (width, contract): set by the first append.
CREATE TABLE store_meta (
    key   text PRIMARY KEY,
    value jsonb NOT NULL
);
