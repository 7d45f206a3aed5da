//! The storage conformance suite: every behaviour the `tokengate_core::store` traits promise,
//! written once against `Arc<dyn Store>` so each backend's test binary runs the same cases.
//! A backend's test file does `#[macro_use] mod conformance;` and
//! `conformance_tests!(fresh_store);`, where `fresh_store()` is an async fn returning
//! `Option<(Arc<dyn Store>, Guard)>` — a new, empty, migrated store and whatever must live as
//! long as it (a temp dir); `None` skips the case (a backend that is not configured).

#![allow(dead_code)]

pub mod chain;
pub mod counter;
pub mod forwarding;
pub mod groups;
pub mod known_addresses;
pub mod lineage;
pub mod outbox;
pub mod sessions;
pub mod settings_audit;
pub mod tokens;
pub mod usage;
pub mod users;

use chrono::{DateTime, Utc};
use std::sync::Arc;
use tokengate_core::model::{Actor, AuditAction, AuditFilter, AuditRecord, NewAudit, Origin};
use tokengate_core::store::Store;
use tokengate_core::token::TokenDigest;
use tokengate_core::{TokenRecord, User};

/// One `#[tokio::test]` per conformance case, each on a fresh store from `$fresh_store`.
macro_rules! conformance_tests {
    ($fresh_store:path) => {
        conformance_tests!(@cases $fresh_store;
            users::users_round_trip_and_list_in_name_order,
            users::creating_a_user_twice_is_a_conflict_and_writes_no_audit,
            users::user_update_changes_only_given_fields_and_is_audited,
            users::updating_a_missing_user_is_not_found_and_writes_no_audit,
            users::failed_logins_lock_at_maximum_and_write_user_locked_audit,
            users::failed_logins_restart_from_zero_after_a_lock_ends_by_itself,
            users::locked_forever_round_trips,
            users::unknown_user_failed_login_returns_none,
            users::concurrent_failed_logins_are_not_lost,
            users::reset_after_password_login_writes_only_when_there_is_something_to_clear,
            users::admin_reset_is_always_audited_and_unknown_user_is_not_found,
            tokens::token_create_and_audit_commit_together,
            tokens::token_for_unknown_owner_is_refused_and_not_audited,
            tokens::duplicate_token_digest_is_a_conflict_and_not_audited,
            tokens::token_by_digest_finds_only_exact_digest,
            tokens::token_grant_by_digest_is_the_records_id_owner_and_expiry,
            tokens::token_rename_is_audited_and_a_missing_token_reports_false,
            tokens::token_delete_is_audited_and_a_missing_token_reports_false,
            tokens::delete_all_counts_and_audits,
            tokens::token_uses_keep_the_latest_and_ignore_unknown_tokens,
            tokens::tokens_filter_and_paging,
            tokens::token_times_round_trip_to_the_millisecond,
            tokens::tokens_over_a_maximum_are_counted_and_clamped_with_an_audit_record,
            lineage::the_maker_and_the_last_rotation_are_stored_and_read_back,
            lineage::deleting_a_token_deletes_what_it_made_transitively_and_nothing_else,
            lineage::a_token_whose_maker_is_gone_is_not_stored,
            lineage::revoke_before_also_deletes_what_the_revoked_tokens_made_later,
            lineage::tokens_made_while_their_maker_is_deleted_never_outlive_it,
            settings_audit::settings_are_the_defaults_until_first_saved,
            settings_audit::settings_round_trip,
            settings_audit::audit_filter_and_paging,
            settings_audit::audit_records_round_trip_every_field,
            settings_audit::list_limit_zero_means_a_page_of_a_hundred,
            counter::change_counter_moves_on_token_delete_but_not_on_last_use,
            counter::change_counter_ignores_token_creation_and_rename,
            counter::change_counter_moves_on_user_changes_but_not_on_failed_logins,
            counter::change_counter_ignores_a_user_update_that_changes_nothing_it_guards,
            counter::change_counter_moves_on_every_settings_save,
            sessions::sessions_round_trip_touch_and_delete,
            sessions::sessions_of_a_user_and_expired_sessions_are_deleted,
            known_addresses::a_remembered_address_is_known_to_its_user_only_and_from_the_time_seen,
            known_addresses::known_addresses_keep_the_latest_time_and_forget_stale_ones,
            known_addresses::an_ipv4_mapped_address_is_the_same_address,
            known_addresses::remembering_an_address_of_an_unknown_user_stores_nothing,
            groups::groups_round_trip_with_their_members_and_users_read_their_groups,
            groups::a_group_with_an_unknown_member_is_not_created,
            groups::members_change_in_one_transaction_and_move_the_change_counter,
            groups::deleting_a_group_removes_its_memberships,
            groups::a_users_local_groups_are_set_exactly,
            groups::directory_users_keep_directory_and_local_groups_apart,
            groups::deprovisioning_disables_and_a_refresh_enables_only_what_it_disabled,
            groups::e_mail_addresses_are_set_and_cleared,
            outbox::a_notifying_change_writes_its_notice_in_the_same_transaction,
            outbox::an_expiry_notice_is_added_once_per_key,
            outbox::a_claimed_delivery_belongs_to_one_node_until_it_finishes,
            outbox::a_lease_that_runs_out_lets_another_node_send,
            outbox::a_retry_waits_until_due_and_a_failure_can_be_retried,
            outbox::pruning_keeps_notices_with_deliveries_still_to_send,
            outbox::concurrent_claimers_never_share_a_delivery,
            chain::every_change_is_chained_and_the_log_verifies,
            chain::batches_and_pruning_keep_the_chain_verifiable,
            chain::concurrent_writers_leave_one_unbroken_chain,
            chain::event_batches_and_other_writers_share_one_chain,
            usage::usage_counts_add_up_across_flushes_and_read_back_by_day,
            usage::usage_is_filtered_by_day_token_and_user_and_summed_over_days,
            usage::usage_per_day_sums_each_via,
            usage::pruning_deletes_only_days_before_the_limit,
            forwarding::forwarding_starts_at_the_chain_head_and_reads_only_later_records,
            forwarding::forwarding_on_an_empty_log_starts_at_zero,
            forwarding::a_held_forwarding_lease_is_refused_to_another_node_until_it_runs_out,
            forwarding::a_released_forwarding_lease_is_taken_over_at_once,
            forwarding::the_forwarding_cursor_only_moves_forward_from_where_it_is,
            forwarding::concurrent_claimers_never_both_hold_the_forwarding_lease,
        );
    };
    (@cases $fresh_store:path; $($module:ident :: $case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let Some((store, _keep_alive)) = $fresh_store().await else {
                    return;
                };
                crate::conformance::$module::$case(store).await;
            }
        )*
    };
}

pub type SharedStore = Arc<dyn Store>;

/// A fixed instant; with milliseconds so round trips are checked at full stored precision.
pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("RFC 3339 instant")
        .with_timezone(&Utc)
}

pub fn now() -> DateTime<Utc> {
    at("2027-03-01T12:00:00.123Z")
}

/// An audit record by the CLI, as the management layer would hand it over.
pub fn audit(action: AuditAction) -> NewAudit {
    let origin = Origin {
        ip: Some("192.0.2.7".into()),
        request_id: Some("req-1".into()),
    };
    NewAudit::new(now(), &Actor::Cli, action, &origin)
}

pub fn user(name: &str) -> User {
    User {
        name: name.into(),
        display_name: format!("{name} (display)"),
        email: None,
        source: Default::default(),
        groups: Vec::new(),
        directory_groups: Vec::new(),
        admin: false,
        disabled: false,
        password_hash: Some(format!("$argon2id$v=19$m=19456,t=2,p=1$fake${name}")),
        failed_logins: 0,
        locked_until: None,
    }
}

pub async fn add_user(store: &SharedStore, name: &str) -> User {
    let user = user(name);
    store
        .create_user(&user, &audit(AuditAction::UserCreated).user(name))
        .await
        .expect("create user");
    user
}

/// A digest derived from a label, so tests can name tokens and find them again.
pub fn digest(label: &str) -> TokenDigest {
    TokenDigest::of(&format!("tg_test_{label}"))
}

pub fn token(id: &str, owner: &str, name: &str) -> TokenRecord {
    TokenRecord {
        restrictions: Default::default(),
        id: id.into(),
        owner: owner.into(),
        name: name.into(),
        digest: digest(id),
        hint: "tg_…abcd".into(),
        created_at: now(),
        created_by: "cli".into(),
        expires_at: None,
        last_used_at: None,
        last_used_ip: None,
        made_by: None,
        rotated_at: None,
        rotated_from: None,
    }
}

pub async fn add_token(store: &SharedStore, record: TokenRecord) -> TokenRecord {
    let audit = audit(AuditAction::TokenCreated)
        .user(&record.owner)
        .token(&record.id);
    store
        .create_token(&record, &audit)
        .await
        .expect("create token");
    record
}

/// Every audit record, newest first.
pub async fn all_audit(store: &SharedStore) -> Vec<AuditRecord> {
    store
        .audit(&AuditFilter {
            limit: 1000,
            ..AuditFilter::default()
        })
        .await
        .expect("audit")
}

pub async fn audit_actions(store: &SharedStore) -> Vec<AuditAction> {
    all_audit(store)
        .await
        .into_iter()
        .map(|record| record.action)
        .collect()
}

pub async fn counter(store: &SharedStore) -> i64 {
    store.change_counter().await.expect("change counter")
}
