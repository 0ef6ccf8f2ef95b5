-- Share links expire (chosen when the report is made, 7 days by default) and can be revoked.
-- Links made before this change get the default: 7 days from their report's creation.
ALTER TABLE reports ADD COLUMN share_expires_at INTEGER;
ALTER TABLE reports ADD COLUMN share_revoked_at INTEGER;
UPDATE reports SET share_expires_at = created_at + 604800000000000 WHERE share_token IS NOT NULL;
