-- Secret conversations (MLS, RFC 9420). The server is the Delivery Service:
-- it keeps public keys, KeyPackages, Welcomes and the groups' MLS messages,
-- all opaque to it; no plaintext and no private key ever reaches it.

-- A browser session's MLS client. Its signature key pair is made in the
-- browser; only the public key is here. When the session ends the device
-- stays listed in its groups (session_hash NULL) until a member's commit
-- removes it from each.
CREATE TABLE mls_devices (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_hash  TEXT UNIQUE REFERENCES sessions(token_hash) ON DELETE SET NULL,
    signature_key BLOB NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX mls_devices_user ON mls_devices(user_id);

-- KeyPackages a device uploaded; each is handed out once (deleted then).
CREATE TABLE mls_key_packages (
    id          INTEGER PRIMARY KEY,
    device_id   INTEGER NOT NULL REFERENCES mls_devices(id) ON DELETE CASCADE,
    key_package BLOB NOT NULL
);
CREATE INDEX mls_key_packages_device ON mls_key_packages(device_id, id);

-- A secret conversation's group: the epoch the server has taken commits up
-- to. A commit is taken only for this epoch, and moves it on by one.
CREATE TABLE mls_groups (
    conversation_id INTEGER PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
    epoch           INTEGER NOT NULL DEFAULT 0
);

-- Which devices the group's commits put in it: whom its messages are for.
CREATE TABLE mls_group_devices (
    conversation_id INTEGER NOT NULL REFERENCES mls_groups(conversation_id) ON DELETE CASCADE,
    device_id       INTEGER NOT NULL REFERENCES mls_devices(id) ON DELETE CASCADE,
    PRIMARY KEY (conversation_id, device_id)
);
CREATE INDEX mls_group_devices_device ON mls_group_devices(device_id);

-- Welcomes waiting for the device they were made for, with the place in the
-- change log of the commit that added it: the device reads on from there.
CREATE TABLE mls_welcomes (
    id              INTEGER PRIMARY KEY,
    device_id       INTEGER NOT NULL REFERENCES mls_devices(id) ON DELETE CASCADE,
    conversation_id INTEGER NOT NULL REFERENCES mls_groups(conversation_id) ON DELETE CASCADE,
    welcome         BLOB NOT NULL,
    seq             INTEGER NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX mls_welcomes_device ON mls_welcomes(device_id, id);

-- The group's commits, proposals and application messages, numbered in the
-- conversation's change log (the same sequence as its other changes), so
-- every device applies them in one total order.
CREATE TABLE mls_messages (
    conversation_id INTEGER NOT NULL REFERENCES mls_groups(conversation_id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    device_id       INTEGER NOT NULL REFERENCES mls_devices(id),
    sender_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    epoch           INTEGER NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('application', 'proposal', 'commit')),
    body            BLOB NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
