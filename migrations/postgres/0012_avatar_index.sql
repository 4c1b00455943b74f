-- Serving an avatar and removing a replaced one ask whether anyone has it.
CREATE INDEX users_avatar ON users (avatar);
