-- Which member device took on a change to a secret group's devices (adding
-- a device: it was handed that device's KeyPackage; removing one), and
-- when. While the claim is fresh no other device is handed the same
-- change, so the member devices that all learn of a new device at once do
-- not all commit it (all but one would be refused as stale).
CREATE TABLE mls_claims (
    conversation_id INTEGER NOT NULL REFERENCES mls_groups(conversation_id) ON DELETE CASCADE,
    device_id       INTEGER NOT NULL REFERENCES mls_devices(id) ON DELETE CASCADE,
    claimed_at      TEXT NOT NULL,
    PRIMARY KEY (conversation_id, device_id)
);
