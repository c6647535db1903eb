-- Who acted: the account that minted each token (NULL: the admin), the token
-- that requested each release, and the token that acted for each push, so the
-- trail tells a publisher acting with its subscriber's token from the subscriber.
ALTER TABLE api_tokens ADD COLUMN minted_by TEXT;
ALTER TABLE releases ADD COLUMN requested_with_token TEXT;
ALTER TABLE pushes ADD COLUMN token_id TEXT;
