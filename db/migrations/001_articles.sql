-- News articles and their ML enrichment (written by jobs/ml_processing.py).
-- A row needs work while any of topic / sentiment / embedding is NULL and ml_attempts is below the job's
-- --max-attempts. A failed inference leaves the fields NULL, records ml_error and increments ml_attempts;
-- predictions are never defaulted.
CREATE TABLE IF NOT EXISTS articles (
    id               bigint PRIMARY KEY,
    title            text        NOT NULL,
    content          text,
    source           text,
    url              text,
    published_at     timestamptz,
    topic            text,
    topic_score      real CHECK (topic_score IS NULL OR topic_score BETWEEN -1 AND 1),
    sentiment        text CHECK (sentiment IS NULL OR sentiment IN ('positive', 'neutral', 'negative')),
    sentiment_score  real CHECK (sentiment_score IS NULL OR sentiment_score BETWEEN -1 AND 1),
    embedding        real[] CHECK (embedding IS NULL OR (array_ndims(embedding) = 1 AND array_length(embedding, 1) = 384)),
    ml_model_version text,
    ml_processed_at  timestamptz,
    ml_attempts      integer     NOT NULL DEFAULT 0 CHECK (ml_attempts >= 0),
    ml_error         text,
    CHECK ((topic IS NULL) = (topic_score IS NULL)),
    CHECK ((sentiment IS NULL) = (sentiment_score IS NULL))
);

-- The pending scan (the check-articles Lambda's count and the job's partitioned read) stays small as the table grows.
CREATE INDEX IF NOT EXISTS articles_pending_idx ON articles (id)
    WHERE topic IS NULL OR sentiment IS NULL OR embedding IS NULL;
