//! The database schema, written by hand: one schema for SQLite and PostgreSQL.

diesel::table! {
    accounts (id) {
        id -> Text,
        name -> Text,
        kind -> Text,
        parent_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        account_id -> Nullable<Text>,
        token_hash -> Text,
        name -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    components (id) {
        id -> Text,
        owner_id -> Text,
        name -> Text,
        component_type -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    component_versions (id) {
        id -> Text,
        component_id -> Text,
        version -> Text,
        notes -> Text,
        shareable -> Bool,
        created_at -> Timestamp,
        created_by -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    integration_packs (id) {
        id -> Text,
        publisher_id -> Text,
        name -> Text,
        description -> Text,
        installation_type -> Text,
        revision -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    pack_components (pack_id, component_id) {
        pack_id -> Text,
        component_id -> Text,
        member -> Bool,
        added_at -> Timestamp,
        released_version_id -> Nullable<Text>,
    }
}

diesel::joinable!(api_tokens -> accounts (account_id));
diesel::joinable!(components -> accounts (owner_id));
diesel::joinable!(component_versions -> components (component_id));
diesel::joinable!(integration_packs -> accounts (publisher_id));
diesel::joinable!(pack_components -> integration_packs (pack_id));
diesel::joinable!(pack_components -> components (component_id));
diesel::joinable!(pack_components -> component_versions (released_version_id));

diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    api_tokens,
    components,
    component_versions,
    integration_packs,
    pack_components,
);
