//! Policy approvals: mutations configured with `--approval-required` answer HTTP 202 with a
//! pending Approval object instead of executing, unless the request carries `force`.

use std::fmt;
use std::str::FromStr;

use serde_json::{json, Value};

use crate::clock;
use crate::ids;

/// A gated service-account operation, named like Dfns's activity kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `POST /auth/service-accounts`.
    Create,
    /// `PUT /auth/service-accounts/{id}`.
    Update,
    /// `PUT /auth/service-accounts/{id}/activate`.
    Activate,
    /// `PUT /auth/service-accounts/{id}/deactivate` (bypass: body `{"force":true}`).
    Deactivate,
    /// `DELETE /auth/service-accounts/{id}` (bypass: `?force=true`).
    Archive,
}

impl Operation {
    /// All operations, for help texts and errors.
    pub const ALL: [Operation; 5] = [
        Operation::Create,
        Operation::Update,
        Operation::Activate,
        Operation::Deactivate,
        Operation::Archive,
    ];

    /// The activity kind, e.g. `ServiceAccounts:Deactivate`.
    pub fn kind(self) -> &'static str {
        match self {
            Operation::Create => "ServiceAccounts:Create",
            Operation::Update => "ServiceAccounts:Update",
            Operation::Activate => "ServiceAccounts:Activate",
            Operation::Deactivate => "ServiceAccounts:Deactivate",
            Operation::Archive => "ServiceAccounts:Archive",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())
    }
}

impl FromStr for Operation {
    type Err = String;

    /// Accepts the activity kind with or without the `Auth:` prefix, and `Delete` for `Archive`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.strip_prefix("Auth:").unwrap_or(s);
        let name = if name == "ServiceAccounts:Delete" {
            "ServiceAccounts:Archive"
        } else {
            name
        };
        Operation::ALL
            .into_iter()
            .find(|op| op.kind() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Operation::ALL.iter().map(|o| o.kind()).collect();
                format!(
                    "unknown operation {s:?}; expected one of {}",
                    known.join(", ")
                )
            })
    }
}

/// The 202 body: a pending Approval in the shape of Dfns's policy-approval object.
pub fn pending_approval(
    op: Operation,
    initiator_id: &str,
    target_id: Option<&str>,
    request_body: Value,
) -> Value {
    let now = clock::now_millis();
    let expires = now.saturating_add(24 * 3600 * 1000);
    json!({
        "id": ids::new_id("ap"),
        "initiatorId": initiator_id,
        "status": "Pending",
        "expirationDate": clock::rfc3339_millis(expires),
        "dateCreated": clock::rfc3339_millis(now),
        "dateUpdated": clock::rfc3339_millis(now),
        "activity": {
            "kind": op.kind(),
            "serviceAccountId": target_id,
            "requestBody": request_body,
        },
        "evaluatedPolicies": [{
            "policyId": "plc-emulator-approval-required",
            "triggerStatus": "Triggered",
            "reason": format!("{} requires approval (dfns-emulator --approval-required {})", op.kind(), op.kind()),
        }],
        "decisions": [],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names() {
        assert_eq!(
            "ServiceAccounts:Deactivate".parse::<Operation>(),
            Ok(Operation::Deactivate)
        );
        assert_eq!(
            "Auth:ServiceAccounts:Delete".parse::<Operation>(),
            Ok(Operation::Archive)
        );
        assert!("Wallets:Sign".parse::<Operation>().is_err());
    }
}
