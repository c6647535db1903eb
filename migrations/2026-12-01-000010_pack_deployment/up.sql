-- A pack's deployment model, fixed at creation: `packaged` (the release
-- wizard picks versions) or `legacy` (a release carries every member's latest
-- version, with no version step).
ALTER TABLE integration_packs ADD COLUMN deployment TEXT NOT NULL DEFAULT 'packaged'
    CHECK (deployment IN ('packaged', 'legacy'));
