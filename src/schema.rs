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
        minted_by -> Nullable<Text>,
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
        name_key -> Text,
        deployment -> Text,
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

diesel::table! {
    release_drafts (id) {
        id -> Text,
        pack_id -> Text,
        base_revision -> BigInt,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        release_id -> Nullable<Text>,
    }
}

diesel::table! {
    release_draft_items (draft_id, component_id) {
        draft_id -> Text,
        component_id -> Text,
        pending_version_id -> Nullable<Text>,
    }
}

diesel::table! {
    releases (id) {
        id -> Text,
        pack_id -> Text,
        draft_id -> Nullable<Text>,
        status -> Text,
        schedule -> Text,
        release_on -> Nullable<Date>,
        due_at -> Timestamp,
        time_zone -> Text,
        requested_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        released_at -> Nullable<Timestamp>,
        canceled_at -> Nullable<Timestamp>,
        failure_reason -> Nullable<Text>,
        requested_with_token -> Nullable<Text>,
    }
}

diesel::table! {
    release_items (release_id, component_id) {
        release_id -> Text,
        component_id -> Text,
        version_id -> Nullable<Text>,
        previous_version_id -> Nullable<Text>,
    }
}

diesel::table! {
    account_groups (id) {
        id -> Text,
        publisher_id -> Text,
        name -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    account_group_members (group_id, account_id) {
        group_id -> Text,
        account_id -> Text,
        added_at -> Timestamp,
    }
}

diesel::table! {
    account_group_packs (group_id, pack_id) {
        group_id -> Text,
        pack_id -> Text,
        added_at -> Timestamp,
    }
}

diesel::table! {
    installations (id) {
        id -> Text,
        account_id -> Text,
        pack_id -> Text,
        override_name -> Nullable<Text>,
        name_key -> Text,
        release_id -> Nullable<Text>,
        installed_at -> Timestamp,
        updated_at -> Timestamp,
        uninstalled_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    pushes (release_id, installation_id) {
        release_id -> Text,
        installation_id -> Text,
        account_id -> Text,
        outcome -> Text,
        pushed_at -> Timestamp,
        pushed_by -> Text,
        token_id -> Nullable<Text>,
        wave -> Nullable<BigInt>,
    }
}

diesel::table! {
    worker_jobs (worker_id, job) {
        worker_id -> Text,
        job -> Text,
        passes -> BigInt,
        done -> BigInt,
        failed -> BigInt,
        errors -> BigInt,
        last_pass_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        last_error_at -> Nullable<Timestamp>,
        next_run_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    worker_job_totals (job) {
        job -> Text,
        passes -> BigInt,
        done -> BigInt,
        failed -> BigInt,
        errors -> BigInt,
    }
}

diesel::table! {
    worker_heartbeats (id) {
        id -> Text,
        hostname -> Text,
        pid -> BigInt,
        embedded -> Bool,
        poll_interval_ms -> BigInt,
        started_at -> Timestamp,
        last_pass_at -> Nullable<Timestamp>,
        passes -> BigInt,
        releases_carried_out -> BigInt,
        last_error -> Nullable<Text>,
        stopped_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    idempotency_keys (scope, idempotency_key) {
        scope -> Text,
        idempotency_key -> Text,
        fingerprint -> Text,
        state -> Text,
        status -> Nullable<BigInt>,
        content_type -> Nullable<Text>,
        location -> Nullable<Text>,
        body -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    event_payloads (id) {
        id -> Text,
        data -> Text,
    }
}

diesel::table! {
    event_counter (name) {
        name -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    event_batches (id) {
        id -> Text,
        position -> BigInt,
        committed_at -> Timestamp,
    }
}

diesel::table! {
    events (id) {
        id -> Text,
        batch_id -> Text,
        account_id -> Text,
        #[sql_name = "type"]
        event_type -> Text,
        created_at -> Timestamp,
        release_id -> Nullable<Text>,
        installation_id -> Nullable<Text>,
        payload_id -> Text,
        fact -> Text,
    }
}

diesel::table! {
    event_groups (id) {
        id -> Text,
        batch_id -> Text,
        #[sql_name = "type"]
        event_type -> Text,
        created_at -> Timestamp,
        release_id -> Text,
        payload_id -> Text,
    }
}

diesel::table! {
    event_members (group_id, ordinal) {
        group_id -> Text,
        ordinal -> BigInt,
        account_id -> Text,
        installation_id -> Text,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Text,
        account_id -> Text,
        url -> Text,
        description -> Nullable<Text>,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_expires_at -> Nullable<Timestamp>,
        failing_since -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_endpoint_event_types (endpoint_id, event_type) {
        endpoint_id -> Text,
        event_type -> Text,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        event_id -> Text,
        endpoint_id -> Text,
        account_id -> Text,
        event_type -> Text,
        release_id -> Nullable<Text>,
        installation_id -> Nullable<Text>,
        status -> Text,
        attempts -> BigInt,
        retry_from -> BigInt,
        next_attempt_at -> Nullable<Timestamp>,
        lease_until -> Nullable<Timestamp>,
        claim_token -> Nullable<Text>,
        last_attempt_at -> Nullable<Timestamp>,
        last_status_code -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_attempts (delivery_id, number) {
        delivery_id -> Text,
        number -> BigInt,
        attempted_at -> Timestamp,
        status_code -> Nullable<BigInt>,
        duration_ms -> BigInt,
        error -> Nullable<Text>,
        response_excerpt -> Text,
    }
}

diesel::joinable!(api_tokens -> accounts (account_id));
diesel::joinable!(components -> accounts (owner_id));
diesel::joinable!(component_versions -> components (component_id));
diesel::joinable!(integration_packs -> accounts (publisher_id));
diesel::joinable!(pack_components -> integration_packs (pack_id));
diesel::joinable!(pack_components -> components (component_id));
diesel::joinable!(pack_components -> component_versions (released_version_id));

diesel::joinable!(release_drafts -> integration_packs (pack_id));
diesel::joinable!(release_draft_items -> release_drafts (draft_id));
diesel::joinable!(release_draft_items -> components (component_id));
diesel::joinable!(releases -> integration_packs (pack_id));
diesel::joinable!(release_items -> releases (release_id));
diesel::joinable!(release_items -> components (component_id));

diesel::joinable!(account_group_members -> account_groups (group_id));
diesel::joinable!(account_group_members -> accounts (account_id));
diesel::table! {
    rollouts (release_id) {
        release_id -> Text,
        advance -> Text,
        halt_at_failed_percent -> Nullable<BigInt>,
        previous_release_id -> Nullable<Text>,
        current_wave -> BigInt,
        next_due_at -> Nullable<Timestamp>,
        halted_reason -> Nullable<Text>,
        halted_at -> Nullable<Timestamp>,
        health_since -> Timestamp,
        updated_at -> Timestamp,
    }
}
diesel::table! {
    rollout_waves (release_id, wave) {
        release_id -> Text,
        wave -> BigInt,
        account_group_id -> Nullable<Text>,
        percent -> Nullable<BigInt>,
        status -> Text,
        due_at -> Nullable<Timestamp>,
        started_at -> Nullable<Timestamp>,
        targeted -> Nullable<BigInt>,
    }
}
diesel::table! {
    rollout_buckets (pack_id, account_id) {
        pack_id -> Text,
        account_id -> Text,
        bucket -> BigInt,
    }
}
diesel::table! {
    rollout_cohorts (release_id, account_id) {
        release_id -> Text,
        account_id -> Text,
    }
}
diesel::table! {
    installation_reports (release_id, installation_id) {
        release_id -> Text,
        installation_id -> Text,
        account_id -> Text,
        outcome -> Text,
        detail -> Nullable<Text>,
        reported_at -> Timestamp,
    }
}
diesel::joinable!(account_group_packs -> account_groups (group_id));
diesel::joinable!(rollouts -> releases (release_id));
diesel::joinable!(rollout_waves -> rollouts (release_id));
diesel::joinable!(account_group_packs -> integration_packs (pack_id));
diesel::joinable!(installations -> integration_packs (pack_id));
diesel::joinable!(pushes -> installations (installation_id));
diesel::joinable!(pushes -> releases (release_id));
diesel::joinable!(worker_jobs -> worker_heartbeats (worker_id));
diesel::joinable!(events -> event_batches (batch_id));
diesel::joinable!(events -> event_payloads (payload_id));
diesel::joinable!(event_groups -> event_batches (batch_id));
diesel::joinable!(event_groups -> event_payloads (payload_id));
diesel::joinable!(event_members -> event_groups (group_id));
diesel::joinable!(webhook_endpoint_event_types -> webhook_endpoints (endpoint_id));
diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));
diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));

diesel::allow_tables_to_appear_in_same_query!(
    account_groups,
    account_group_members,
    account_group_packs,
    installations,
    pushes,
    accounts,
    api_tokens,
    components,
    component_versions,
    integration_packs,
    pack_components,
    release_drafts,
    release_draft_items,
    releases,
    release_items,
    worker_heartbeats,
    worker_jobs,
    worker_job_totals,
    idempotency_keys,
    event_payloads,
    event_counter,
    event_batches,
    events,
    event_groups,
    event_members,
    webhook_endpoints,
    webhook_endpoint_event_types,
    webhook_deliveries,
    webhook_attempts,
    rollouts,
    rollout_waves,
    rollout_buckets,
    rollout_cohorts,
    installation_reports,
);
