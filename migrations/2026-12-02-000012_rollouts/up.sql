-- Staged rollouts: a release may reach its installations in waves (a canary
-- group, then growing shares of the subscribed accounts), halting by itself
-- when the installations of a wave report failures.

-- The plan of a release that rolls out in waves, and where it stands.
-- previous_release_id: what the pack ran before (a new installation gets it
-- while the rollout is halted; an abort returns the pack to it).
-- next_due_at: when the worker starts the next wave (nightly rollouts in
-- progress only); health_since: reports and failures before it do not count
-- (set at the start and on every resume).
CREATE TABLE rollouts (
    release_id TEXT PRIMARY KEY REFERENCES releases (id) ON DELETE CASCADE,
    advance TEXT NOT NULL CHECK (advance IN ('nightly', 'manual')),
    halt_at_failed_percent BIGINT CHECK (halt_at_failed_percent BETWEEN 1 AND 100),
    previous_release_id TEXT,
    current_wave BIGINT NOT NULL,
    next_due_at TIMESTAMP,
    halted_reason TEXT,
    halted_at TIMESTAMP,
    health_since TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX rollouts_due_idx ON rollouts (next_due_at);

-- One row per wave (index from 1): a canary group or a cumulative percent.
-- targeted: the installations the wave moved, once started.
CREATE TABLE rollout_waves (
    release_id TEXT NOT NULL REFERENCES rollouts (release_id) ON DELETE CASCADE,
    wave BIGINT NOT NULL,
    account_group_id TEXT,
    percent BIGINT CHECK (percent BETWEEN 1 AND 100),
    status TEXT NOT NULL CHECK (status IN ('pending', 'started', 'canceled')),
    due_at TIMESTAMP,
    started_at TIMESTAMP,
    targeted BIGINT,
    PRIMARY KEY (release_id, wave),
    CHECK ((account_group_id IS NULL) <> (percent IS NULL))
);

-- Each subscribed account's place in the pack's rollouts (0-9999), from
-- SHA-256 of (pack id, account id), computed once and kept: the same
-- accounts go first on every release of the pack.
CREATE TABLE rollout_buckets (
    pack_id TEXT NOT NULL REFERENCES integration_packs (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL,
    bucket BIGINT NOT NULL CHECK (bucket BETWEEN 0 AND 9999),
    PRIMARY KEY (pack_id, account_id)
);
CREATE INDEX rollout_buckets_bucket_idx ON rollout_buckets (pack_id, bucket);

-- The subscribed accounts that a rollout's waves have taken so far (each
-- wave adds its own before it goes out): a wave's installations are found
-- from these accounts, so its cost follows its cohort, not the pack's size.
CREATE TABLE rollout_cohorts (
    release_id TEXT NOT NULL REFERENCES rollouts (release_id) ON DELETE CASCADE,
    account_id TEXT NOT NULL,
    PRIMARY KEY (release_id, account_id)
);

-- A subscriber's report of applying a release to an installation: one per
-- (release, installation), the latest wins.
CREATE TABLE installation_reports (
    release_id TEXT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    installation_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('succeeded', 'failed')),
    detail TEXT,
    reported_at TIMESTAMP NOT NULL,
    PRIMARY KEY (release_id, installation_id)
);
CREATE INDEX installation_reports_outcome_idx ON installation_reports (release_id, outcome, reported_at);

-- The wave whose start pushed the release to the installation (NULL: not a
-- rollout's wave, or applied early).
ALTER TABLE pushes ADD COLUMN wave BIGINT;
