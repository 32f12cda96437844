-- Ended tokens are deleted some time after they ended (CONCERT_TOKEN_RETENTION), in
-- bounded batches oldest first: this index finds a batch without scanning every token.
CREATE INDEX queue_tokens_ended
    ON queue_tokens (ended_at) WHERE state IN ('expired', 'evicted');
