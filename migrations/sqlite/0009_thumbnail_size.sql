-- A thumbnail's size, so a page reserves its space before it loads (the
-- layout does not jump, and following the newest message stays right).
-- Attachments stored before this have none and show as before.
ALTER TABLE attachments ADD COLUMN thumbnail_width INTEGER;
ALTER TABLE attachments ADD COLUMN thumbnail_height INTEGER;
