//! `dfns-hsm permission ...`: list, get, create, archive, assign, list assignments, revoke.

use clap::Subcommand;
use serde_json::json;

use super::args::{CallArgs, ReadArgs};
use super::context::{Context, Settings};
use super::error::CliError;
use super::output::Report;
use crate::api::{Assignment, CreatePermission, Outcome, Permission};

/// Permission commands.
#[derive(Debug, Subcommand)]
pub enum PermissionCommand {
    /// List the organization's permissions.
    List {
        /// The API to ask.
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Show one permission.
    Get {
        /// Permission id (`pm-...`).
        id: String,
        /// The API to ask.
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Create a permission allowing the given operations.
    Create {
        /// Name of the permission.
        #[arg(long)]
        name: String,
        /// Operations it allows, e.g. Auth:ServiceAccounts:Read (several after one flag, or
        /// the flag repeated).
        #[arg(long = "operation", value_name = "OP", required = true, num_args = 1..)]
        operations: Vec<String>,
        /// Who signs, where to send it.
        #[command(flatten)]
        call: CallArgs,
    },
    /// Archive a permission (it then grants nothing), or unarchive it.
    Archive {
        /// Permission id (`pm-...`).
        id: String,
        /// Unarchive instead.
        #[arg(long)]
        unarchive: bool,
        /// Who signs, where to send it.
        #[command(flatten)]
        call: CallArgs,
    },
    /// Give a permission to a user, service account or personal access token.
    Assign {
        /// Permission id (`pm-...`).
        id: String,
        /// The identity that receives it (`us-...` for a user or service account).
        #[arg(long, value_name = "ID")]
        identity: String,
        /// Who signs, where to send it.
        #[command(flatten)]
        call: CallArgs,
    },
    /// List who holds a permission.
    Assignments {
        /// Permission id (`pm-...`).
        id: String,
        /// The API to ask.
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Take a permission away: revoke one of its assignments.
    Revoke {
        /// Permission id (`pm-...`).
        id: String,
        /// The assignment to revoke (`as-...`, from `assignments`).
        #[arg(long, value_name = "AS_ID")]
        assignment: String,
        /// Bypass the policy approval check.
        #[arg(long)]
        force: bool,
        /// Who signs, where to send it.
        #[command(flatten)]
        call: CallArgs,
    },
}

/// Run a permission command.
pub async fn run(ctx: &Context, cmd: PermissionCommand) -> Result<Report, CliError> {
    match cmd {
        PermissionCommand::List { read } => {
            let list = read_settings(ctx, read)?
                .client(None)?
                .permissions()
                .list()
                .await?;
            let mut human = format!("{} permission(s)\n", list.items.len());
            for p in &list.items {
                human.push_str(&format!(
                    "  {:<34} {:<24} {}{}\n",
                    p.id,
                    p.name,
                    p.operations.join(","),
                    flags(p)
                ));
            }
            Ok(Report::new(to_json(&list)?, human))
        }
        PermissionCommand::Get { id, read } => {
            let p = read_settings(ctx, read)?
                .client(None)?
                .permissions()
                .get(&id)
                .await?;
            permission_report(&p, "permission")
        }
        PermissionCommand::Create {
            name,
            operations,
            call,
        } => {
            let client = ctx.resolve(&call)?.signed_client()?;
            let request = CreatePermission { name, operations };
            match client.permissions().create(&request).await? {
                Outcome::Done(p) => permission_report(&p, "created"),
                Outcome::PendingApproval(v) => Ok(Report::pending("create permission", v)),
            }
        }
        PermissionCommand::Archive {
            id,
            unarchive,
            call,
        } => {
            let client = ctx.resolve(&call)?.signed_client()?;
            let verb = if unarchive { "unarchived" } else { "archived" };
            match client.permissions().archive(&id, !unarchive).await? {
                Outcome::Done(p) => permission_report(&p, verb),
                Outcome::PendingApproval(v) => Ok(Report::pending(verb, v)),
            }
        }
        PermissionCommand::Assign { id, identity, call } => {
            let client = ctx.resolve(&call)?.signed_client()?;
            match client.permissions().assign(&id, &identity).await? {
                Outcome::Done(a) => assignment_report(&a, "assigned"),
                Outcome::PendingApproval(v) => Ok(Report::pending(
                    &format!("assign permission {id} to {identity}"),
                    v,
                )),
            }
        }
        PermissionCommand::Assignments { id, read } => {
            let list = read_settings(ctx, read)?
                .client(None)?
                .permissions()
                .assignments(&id)
                .await?;
            let mut human = format!("{} assignment(s) of {id}\n", list.items.len());
            for a in &list.items {
                human.push_str(&format!(
                    "  {:<34} {}{}\n",
                    a.id,
                    a.identity_id,
                    if a.is_immutable { " (immutable)" } else { "" }
                ));
            }
            Ok(Report::new(to_json(&list)?, human))
        }
        PermissionCommand::Revoke {
            id,
            assignment,
            force,
            call,
        } => {
            let client = ctx.resolve(&call)?.signed_client()?;
            match client.permissions().revoke(&id, &assignment, force).await? {
                Outcome::Done(()) => Ok(Report::new(
                    json!({ "permissionId": id, "assignmentId": assignment, "revoked": true }),
                    format!("revoked: assignment {assignment} of permission {id}"),
                )),
                Outcome::PendingApproval(v) => Ok(Report::pending(
                    &format!("revoke assignment {assignment} of permission {id}"),
                    v,
                )),
            }
        }
    }
}

fn read_settings(ctx: &Context, read: ReadArgs) -> Result<Settings, CliError> {
    ctx.resolve(&CallArgs {
        api: read.api,
        retry: read.retry,
        ..CallArgs::default()
    })
}

fn flags(p: &Permission) -> String {
    let mut out = String::new();
    if p.is_immutable {
        out.push_str(" (immutable)");
    }
    if p.is_archived {
        out.push_str(" (archived)");
    }
    out
}

fn permission_report(p: &Permission, verb: &str) -> Result<Report, CliError> {
    let mut human = format!("{verb}: {} {:?}{}\noperations:\n", p.id, p.name, flags(p));
    for op in &p.operations {
        human.push_str(&format!("  {op}\n"));
    }
    Ok(Report::new(to_json(p)?, human))
}

fn assignment_report(a: &Assignment, verb: &str) -> Result<Report, CliError> {
    let human = format!(
        "{verb}: permission {} to {}\nassignmentId: {}",
        a.permission_id, a.identity_id, a.id
    );
    Ok(Report::new(to_json(a)?, human))
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, CliError> {
    serde_json::to_value(v).map_err(|e| CliError::Failed(e.to_string()))
}
