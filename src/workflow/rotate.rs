//! Rotation: a service account's token cannot be renewed, so before it expires a new account
//! takes its place, with a new HSM key and the same permissions.
//!
//! The steps, in order: read the old account (name, external id, permission assignments);
//! enroll the new one (generate its key, create it, store its one-time token, prove it); give
//! it each permission the old one holds; then deactivate the old account (or archive it).
//! Until the last step the old account is untouched, so a failure anywhere leaves it working;
//! the report says what exists at that point and how to finish or undo.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Serialize;

use super::account::AccountRequest;
use super::enroll::{enroll, EnrollRequest, Enrolled};
use super::interrupt::Interrupt;
use super::store::TokenStore;
use crate::api::{DfnsClient, Outcome, ServiceAccount};
use crate::hsm::{Algorithm, Token};

/// What to rotate, and into what.
#[derive(Debug, Clone, Default)]
pub struct RotateRequest {
    /// The account being replaced (`us-...`).
    pub old_account_id: String,
    /// Name of the new account (names are unique); default: the old name with today's date.
    pub new_name: Option<String>,
    /// Label of the new HSM key (generated when absent).
    pub key_label: String,
    /// Algorithm of the new key (default ECDSA P-256).
    pub algorithm: Option<Algorithm>,
    /// Lifetime of the new account's token in days (Dfns's default when `None`).
    pub days_valid: Option<u32>,
    /// Archive the old account instead of deactivating it.
    pub archive_old: bool,
    /// Reuse an existing key although it is unsafe (see [`EnrollRequest::allow_unsafe_key`]).
    pub allow_unsafe_key: bool,
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StepStatus {
    /// Done.
    Done,
    /// Tried and failed; the rotation stopped here.
    Failed,
    /// Not tried, because an earlier step failed.
    NotRun,
}

/// One step of a rotation.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// What the step does.
    pub name: &'static str,
    /// How it ended.
    pub status: StepStatus,
    /// What happened, in a sentence.
    pub detail: String,
}

/// The report of a rotation, complete or not.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rotation {
    /// The account replaced.
    pub old_account_id: String,
    /// The new account, once created.
    pub new_account_id: Option<String>,
    /// Its credential id.
    pub new_cred_id: Option<String>,
    /// Its key's URI.
    pub key_uri: Option<String>,
    /// Where its token was stored.
    pub token_file: Option<String>,
    /// Every step, in order.
    pub steps: Vec<Step>,
    /// Whether every step was done.
    pub complete: bool,
    /// When not complete: what exists now, and how to finish or undo.
    pub next: Option<String>,
}

const STEPS: [&str; 4] = [
    "read the old account",
    "enroll the new account",
    "assign the permissions",
    "retire the old account",
];

impl Rotation {
    fn new(old: &str) -> Self {
        Self {
            old_account_id: old.to_owned(),
            new_account_id: None,
            new_cred_id: None,
            key_uri: None,
            token_file: None,
            steps: STEPS
                .iter()
                .map(|name| Step {
                    name,
                    status: StepStatus::NotRun,
                    detail: String::new(),
                })
                .collect(),
            complete: false,
            next: None,
        }
    }

    fn done(&mut self, i: usize, detail: String) {
        self.steps[i].status = StepStatus::Done;
        self.steps[i].detail = detail;
    }

    fn failed(mut self, i: usize, detail: String, next: String) -> Self {
        self.steps[i].status = StepStatus::Failed;
        self.steps[i].detail = detail;
        self.next = Some(next);
        self
    }

    /// Whether a new account exists that a person must finish or undo.
    pub fn left_half_done(&self) -> bool {
        !self.complete && self.new_account_id.is_some()
    }
}

/// The permissions an account holds, by id (from its user info and its tokens).
fn permission_ids(account: &ServiceAccount) -> BTreeSet<String> {
    account
        .user_info
        .permission_assignments
        .iter()
        .chain(
            account
                .access_tokens
                .iter()
                .flat_map(|t| t.permission_assignments.iter()),
        )
        .map(|a| a.permission_id.clone())
        .filter(|id| !id.is_empty())
        .collect()
}

fn default_name(old: &str) -> String {
    let today = time::OffsetDateTime::now_utc().date();
    format!(
        "{old}-{:04}{:02}{:02}",
        today.year(),
        u8::from(today.month()),
        today.day()
    )
}

/// Rotate `request.old_account_id` as `admin`, the new key on `token`, its token kept in
/// `store` (check it before calling). Never fails as a whole: the report says which step
/// stopped it and what exists then. A stop requested through `interrupt` is honoured between
/// steps (and inside enroll as enroll honours it): no new change is started after it.
pub async fn rotate(
    admin: &DfnsClient,
    token: &Arc<Token>,
    request: &RotateRequest,
    store: Option<&dyn TokenStore>,
    interrupt: &Interrupt,
) -> Rotation {
    let old_id = request.old_account_id.as_str();
    let mut report = Rotation::new(old_id);

    let old = match admin.service_accounts().get(old_id).await {
        Ok(account) => account,
        Err(e) => {
            return report.failed(
                0,
                e.to_string(),
                format!("nothing was created; account {old_id} is unchanged"),
            )
        }
    };
    let permissions = permission_ids(&old);
    report.done(
        0,
        format!(
            "{old_id} {:?} holds {} permission(s)",
            old.user_info.name,
            permissions.len()
        ),
    );

    let name = request
        .new_name
        .clone()
        .unwrap_or_else(|| default_name(&old.user_info.name));
    let enroll_request = EnrollRequest {
        account: AccountRequest {
            name: name.clone(),
            days_valid: request.days_valid,
            permission_id: None,
            external_id: old.external_id().map(str::to_owned),
        },
        key_label: request.key_label.clone(),
        algorithm: request.algorithm,
        allow_unsafe_key: request.allow_unsafe_key,
    };
    let enrollment = match enroll(admin, token, &enroll_request, store, interrupt).await {
        Ok(Enrolled::Done(e)) => e,
        Ok(Enrolled::Unproven(e)) => {
            let new_id = e.created.account.id().to_owned();
            report.new_account_id = Some(new_id.clone());
            report.token_file = e.created.stored_at.clone();
            return report.failed(
                1,
                format!("{new_id} was created and its token kept, then the run was stopped before its proof"),
                format!("account {old_id} is unchanged; {new_id} exists with no permission: rotate was stopped, so archive {new_id} and rotate again"),
            );
        }
        Ok(Enrolled::PendingApproval { key_uri, .. }) => {
            return report.failed(
                1,
                format!("the create of {name:?} ({key_uri}) is held for a policy approval; its token will not be handed out"),
                format!("account {old_id} is unchanged; once the approval settles, archive an approved {name:?} and rotate again under a policy that lets the create through"),
            )
        }
        Err(e) => {
            // An account may exist if the create went through before the failure.
            let next = match &e {
                super::WorkflowError::TokenNotSaved { account_id, .. }
                | super::WorkflowError::NoToken { account_id }
                | super::WorkflowError::Proof { account_id, .. } => {
                    report.new_account_id = Some(account_id.clone());
                    format!("account {old_id} is unchanged; the new account {account_id} exists but is not usable as rotated: archive it, then rotate again")
                }
                _ => format!("account {old_id} is unchanged"),
            };
            return report.failed(1, e.to_string(), next);
        }
    };
    let new_id = enrollment.created.account.id().to_owned();
    report.new_account_id = Some(new_id.clone());
    report.new_cred_id = Some(enrollment.cred_id.clone());
    report.key_uri = Some(enrollment.key_uri.clone());
    report.token_file = enrollment.created.stored_at.clone();
    report.done(
        1,
        format!(
            "{new_id} {name:?} created, its token {}, its key and credential proven",
            enrollment
                .created
                .stored_at
                .as_deref()
                .map(|p| format!("saved to {p}"))
                .unwrap_or_else(|| "returned".to_owned())
        ),
    );

    let stopped_after = |report: Rotation, step: usize, what: &str| {
        let new = report.new_account_id.clone().unwrap_or_default();
        report.failed(
            step,
            "stopped by a signal before this step".to_owned(),
            format!("account {old_id} is unchanged; {new} exists ({what}): archive {new} and rotate again"),
        )
    };
    let mut granted = Vec::new();
    for permission in &permissions {
        if interrupt.is_requested() {
            let what = format!(
                "holding {} of the {} permission(s)",
                granted.len(),
                permissions.len()
            );
            return stopped_after(report, 2, &what);
        }
        match admin.permissions().assign(permission, &new_id).await {
            Ok(Outcome::Done(_)) => granted.push(permission.clone()),
            Ok(Outcome::PendingApproval(_)) => {
                return report.failed(
                    2,
                    format!("assigning {permission} to {new_id} is held for a policy approval"),
                    format!("account {old_id} is unchanged; {new_id} holds {} of the {} permission(s) so far: once the approvals settle, assign the rest and retire {old_id}; or archive {new_id} to undo", granted.len(), permissions.len()),
                )
            }
            Err(e) => {
                let missing: Vec<&String> = permissions.iter().filter(|p| !granted.contains(p)).collect();
                return report.failed(
                    2,
                    format!("assigning {permission} to {new_id} failed: {e}"),
                    format!(
                        "account {old_id} is unchanged; {new_id} exists and holds {} of the {} permission(s): to finish, assign {} to {new_id} and retire {old_id}; to undo, archive {new_id}",
                        granted.len(),
                        permissions.len(),
                        missing.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                );
            }
        }
    }
    report.done(
        2,
        format!("{new_id} holds the same {} permission(s)", granted.len()),
    );

    if interrupt.is_requested() {
        let new = new_id.clone();
        return report.failed(
            3,
            "stopped by a signal before this step".to_owned(),
            format!("{new} is ready with every permission; {old_id} is still active: retire it once the apps use {new}"),
        );
    }
    let accounts = admin.service_accounts();
    let retired = if request.archive_old {
        accounts.archive(old_id, false).await
    } else {
        accounts.deactivate(old_id, false).await
    };
    let verb = if request.archive_old {
        "archived"
    } else {
        "deactivated"
    };
    match retired {
        Ok(Outcome::Done(_)) => report.done(3, format!("{old_id} {verb}")),
        Ok(Outcome::PendingApproval(_)) => {
            return report.failed(
                3,
                format!("retiring {old_id} is held for a policy approval"),
                format!("{new_id} is ready; {old_id} stays active until the approval settles"),
            )
        }
        Err(e) => {
            return report.failed(
                3,
                e.to_string(),
                format!("{new_id} is ready; {old_id} is still active: retire it ({verb} it) once the apps use {new_id}"),
            )
        }
    }
    report.complete = true;
    report
}
