//! Section 5: one signed CLI call from process start to exit, and its peak memory.

use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use testkit::TestToken;

/// Wall time and peak resident memory of one child process.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// Start to exit.
    pub wall: Duration,
    /// Peak resident set size, KiB.
    pub max_rss_kib: u64,
}

/// Run `cmd` under GNU `time` (for the peak RSS) and time it from spawn to exit.
///
/// The peak RSS comes from `/usr/bin/time -f %M`, not from our own `wait4`: Linux carries
/// the high-water mark of the memory a child was forked from into its `ru_maxrss`, so a child
/// spawned directly by this (large) process would report at least our own size. `time` is
/// small, and its fork+exec adds well under a millisecond to the wall time.
pub fn measure(cmd: &Command) -> Result<Run, String> {
    let rss_file = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    let mut timed = Command::new("/usr/bin/time");
    timed
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(rss_file.path())
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .env_clear()
        .envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
    let run = wait(&mut timed)?;
    let max_rss_kib = std::fs::read_to_string(rss_file.path())
        .map_err(|e| e.to_string())?
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .ok_or("no RSS figure from /usr/bin/time")?;
    Ok(Run { max_rss_kib, ..run })
}

/// Spawn `cmd` and reap it with `wait4`; its wall time from spawn to exit.
fn wait(cmd: &mut Command) -> Result<Run, String> {
    let started = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: `pid` is our child, not yet reaped (the `Child` is never waited on); `status`
    // is a live local; a null rusage pointer is allowed.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, std::ptr::null_mut()) };
    let wall = started.elapsed();
    if rc != pid {
        return Err(format!("wait4: {}", std::io::Error::last_os_error()));
    }
    let exit = ExitStatus::from_raw(status);
    if !exit.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        return Err(format!("the command failed ({exit}): {err}"));
    }
    Ok(Run {
        wall,
        max_rss_kib: 0,
    })
}

/// The environment-only CLI invocation of `service-account update` signed on the token.
pub struct CliCall<'a> {
    /// `target/release/dfns-hsm`.
    pub bin: &'a Path,
    /// Emulator URL.
    pub api_url: &'a str,
    /// Service-account token file.
    pub token_file: &'a Path,
    /// Its credential id.
    pub cred_id: &'a str,
    /// Key label on the token.
    pub key_label: &'a str,
    /// The token the key is on.
    pub token: &'a TestToken,
    /// Account to update.
    pub account_id: &'a str,
}

impl CliCall<'_> {
    /// The command for run `n`.
    pub fn command(&self, n: usize) -> Command {
        let mut c = self.token.cli_at(self.bin);
        c.env("DFNS_API_URL", self.api_url)
            .env("DFNS_AUTH_TOKEN_FILE", self.token_file)
            .env("DFNS_CRED_ID", self.cred_id)
            .env("DFNS_SIGNING_KEY", self.key_label)
            .args(["service-account", "update", self.account_id])
            .args(["--external-id", &format!("cli-{n}")]);
        c
    }
}
