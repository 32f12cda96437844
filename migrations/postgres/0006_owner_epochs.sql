-- Cluster mode (issue 15, docs/scale-out.md): the epoch of each owned thing's current
-- owner. A node that claims a thing's lease (a JetStream KV key, whose create revision
-- is the epoch) records it here before its first write; every write it makes checks,
-- in the write's own transaction (SELECT … FOR SHARE), that its epoch is still this
-- row's, so a node that lost its lease cannot write once the next owner has claimed.
-- A single node never reads or writes this table.
CREATE TABLE owner_epochs (
    -- The lease key: 'session.<id>', 'room.site', 'room.<concert id>', 'wallet.<user id>'.
    thing      TEXT        PRIMARY KEY,
    -- Only moves forward (the claim's upsert refuses an older one).
    epoch      BIGINT      NOT NULL CHECK (epoch >= 1),
    node       TEXT        NOT NULL,
    claimed_at TIMESTAMPTZ NOT NULL
);
