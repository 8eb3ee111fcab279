//! Process hardening for a CLI that holds PINs and tokens in memory.

/// No core dump, and no ptrace by other processes of the same user: a dump or a debugger
/// would read the PIN or a Dfns token out of memory. Best effort: a failure is ignored, since
/// the command itself can still run safely.
pub fn disable_core_dumps() {
    let none = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: both calls take plain values (a pointer to a live rlimit, integer flags) and
    // change only this process's own limits.
    unsafe {
        libc::setrlimit(libc::RLIMIT_CORE, &none);
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}
