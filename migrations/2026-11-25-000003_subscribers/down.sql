DROP TABLE pushes;
DROP TABLE installations;
DROP TABLE account_group_packs;
DROP TABLE account_group_members;
DROP TABLE account_groups;
