//! SIGINT and SIGTERM during the commands that create a service account (`enroll`,
//! `create`). Dfns returns the account's token once, in the create response, so a signal
//! becomes a stop request on the workflow's [`Interrupt`] instead of killing the process:
//! before the create the command stops at once (exit 128 + the signal's number); while the
//! create may be in flight it is deferred until the token is stored, and any further signal
//! is ignored with a message. SIGKILL still ends the process at once.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, MutexGuard};

use tokio::signal::unix::{signal, SignalKind};

use super::error::CliError;
use crate::workflow::{Interrupt, StopRequest};

/// The first signal received (0: none), which decides the exit code.
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// Held while a signal is turned into a stop request and its message printed, so that the
/// command's own last words (which the request may cause) come after it.
static REPORTING: Mutex<()> = Mutex::new(());

fn reporting() -> MutexGuard<'static, ()> {
    REPORTING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// From now on, for the rest of the process, turn SIGINT and SIGTERM into stop requests on
/// the returned [`Interrupt`], telling on stderr what each one does.
pub(super) fn catch() -> Result<Interrupt, CliError> {
    let install = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|e| CliError::Failed(format!("cannot catch {name}: {e}")))
    };
    let mut int = install(SignalKind::interrupt(), "SIGINT")?;
    let mut term = install(SignalKind::terminate(), "SIGTERM")?;
    let interrupt = Interrupt::new();
    let requests = interrupt.clone();
    tokio::spawn(async move {
        let mut seen = 0u32;
        loop {
            let (name, number) = tokio::select! {
                Some(()) = int.recv() => ("SIGINT", libc::SIGINT),
                Some(()) = term.recv() => ("SIGTERM", libc::SIGTERM),
                else => return,
            };
            let _reporting = reporting();
            let _ = RECEIVED.compare_exchange(0, number, Ordering::SeqCst, Ordering::SeqCst);
            seen += 1;
            match requests.request() {
                StopRequest::Deferred if seen == 1 => eprintln!(
                    "dfns-hsm: {name} received while the create may be in flight: finishing \
                     the create so its one-time token is not lost, then stopping; send \
                     SIGKILL to abandon it"
                ),
                StopRequest::Deferred => eprintln!(
                    "dfns-hsm: {name} received again: ignored, finishing the create so its \
                     one-time token is not lost; send SIGKILL to abandon it"
                ),
                StopRequest::Stopping if seen == 1 => {
                    eprintln!("dfns-hsm: {name} received: stopping");
                }
                StopRequest::Stopping => {}
            }
        }
    });
    Ok(interrupt)
}

/// Wait until a signal being handled has printed its message.
pub(super) fn settled() {
    drop(reporting());
}

/// The exit code of a command a signal stopped: 128 + its number, as a shell reports a
/// process the signal killed (130 for SIGINT, 143 for SIGTERM).
pub(super) fn exit_code() -> i32 {
    128 + match RECEIVED.load(Ordering::SeqCst) {
        0 => libc::SIGINT,
        n => n,
    }
}
