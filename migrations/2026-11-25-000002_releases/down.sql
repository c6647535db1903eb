DROP TABLE release_items;
DROP TABLE releases;
DROP TABLE release_draft_items;
DROP TABLE release_drafts;
