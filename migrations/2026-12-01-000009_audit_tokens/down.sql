ALTER TABLE pushes DROP COLUMN token_id;
ALTER TABLE releases DROP COLUMN requested_with_token;
ALTER TABLE api_tokens DROP COLUMN minted_by;
