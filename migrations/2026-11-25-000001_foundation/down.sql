DROP TABLE pack_components;
DROP TABLE integration_packs;
DROP TABLE component_versions;
DROP TABLE components;
DROP TABLE api_tokens;
DROP TABLE accounts;
