//! The command line's option groups: each command shows only the groups it uses, its own
//! options first; flags win over the environment, which wins over the profile.

use std::process::Command;

fn cli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dfns-hsm"));
    // Nothing from the caller's environment may decide what these tests see.
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    c
}

fn help(args: &[&str]) -> String {
    let out = cli().args(args).arg("--help").output().expect("spawn");
    assert!(out.status.success(), "{args:?} --help failed");
    String::from_utf8(out.stdout).expect("utf8")
}

fn position(text: &str, flag: &str) -> usize {
    text.find(&format!("--{flag} "))
        .or_else(|| text.find(&format!("--{flag}\n")))
        .unwrap_or_else(|| panic!("--{flag} missing from:\n{text}"))
}

const API_AND_RETRY: &[&str] = &[
    "api-url",
    "auth-token-file",
    "max-attempts",
    "retry-deadline",
    "timeout",
];

#[test]
fn token_list_shows_hsm_options_only() {
    let text = help(&["token", "list"]);
    for flag in API_AND_RETRY.iter().chain(&["signing-key", "cred-id"]) {
        assert!(!text.contains(&format!("--{flag}")), "--{flag} in:\n{text}");
    }
    position(&text, "module");
    assert!(text.contains("HSM (PKCS#11) options:"), "{text}");
}

#[test]
fn sign_challenge_shows_no_api_retry_or_signing_identity_option() {
    let text = help(&["key", "sign-challenge"]);
    for flag in API_AND_RETRY.iter().chain(&["signing-key"]) {
        assert!(!text.contains(&format!("--{flag}")), "--{flag} in:\n{text}");
    }
    // Its own options, the credential id among them, come before the HSM group.
    assert!(
        position(&text, "cred-id") < position(&text, "module"),
        "{text}"
    );
    assert!(
        position(&text, "challenge") < position(&text, "module"),
        "{text}"
    );
}

#[test]
fn create_lists_its_own_options_first_then_one_heading_per_group() {
    let text = help(&["service-account", "create"]);
    let own = position(&text, "token-out").max(position(&text, "public-key-file"));
    for flag in ["signing-key", "module", "api-url", "max-attempts", "output"] {
        assert!(
            own < position(&text, flag),
            "--{flag} before own options:\n{text}"
        );
    }
    for heading in [
        "Signing identity options:",
        "HSM (PKCS#11) options:",
        "Dfns API options:",
        "Retry options:",
    ] {
        assert!(text.contains(heading), "{heading} missing:\n{text}");
    }
    // The three kinds of token are told apart.
    assert!(text.contains("not a Dfns token"), "{text}");
    assert!(text.contains("Dfns access token"), "{text}");
    assert!(text.contains("Dfns auth (bearer) token"), "{text}");
}

#[test]
fn reads_take_no_hsm_or_signing_options() {
    let text = help(&["service-account", "list"]);
    for flag in ["module", "pin-source", "signing-key", "cred-id"] {
        assert!(!text.contains(&format!("--{flag}")), "--{flag} in:\n{text}");
    }
    position(&text, "api-url");
    position(&text, "max-attempts");
}

/// A setting's source is visible through the error it causes: an unreachable module path.
fn module_error(args: &[&str], env: &[(&str, &str)], profile: Option<&str>) -> String {
    let dir = tempfile::tempdir().expect("tmp");
    let mut c = cli();
    if let Some(text) = profile {
        let path = dir.path().join("profile.toml");
        std::fs::write(&path, text).expect("profile");
        c.arg("--config").arg(&path);
    }
    c.args(args).envs(env.iter().copied());
    let out = c.output().expect("spawn");
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn flag_over_env_over_profile() {
    let profile = "[hsm]\nmodule = \"/from/profile.so\"\ntoken = \"t\"\n";
    let env = [("DFNS_HSM_MODULE", "/from/env.so")];
    let err = module_error(&["token", "list"], &[], Some(profile));
    assert!(err.contains("/from/profile.so"), "{err}");
    let err = module_error(&["token", "list"], &env, Some(profile));
    assert!(err.contains("/from/env.so"), "{err}");
    let err = module_error(
        &["token", "list", "--module", "/from/flag.so"],
        &env,
        Some(profile),
    );
    assert!(err.contains("/from/flag.so"), "{err}");
    // A flag before the command counts as a flag; the command's own copy wins over it.
    let err = module_error(&["--module", "/before.so", "token", "list"], &env, None);
    assert!(err.contains("/before.so"), "{err}");
    let err = module_error(
        &[
            "--module",
            "/before.so",
            "token",
            "list",
            "--module",
            "/after.so",
        ],
        &[],
        None,
    );
    assert!(err.contains("/after.so"), "{err}");
}

#[test]
fn retry_settings_from_every_layer_are_checked_alike() {
    for (args, env, profile, name) in [
        (
            vec!["service-account", "list", "--max-attempts", "0"],
            vec![],
            None,
            "--max-attempts",
        ),
        (
            vec!["service-account", "list"],
            vec![("DFNS_HSM_MAX_ATTEMPTS", "0")],
            None,
            "DFNS_HSM_MAX_ATTEMPTS",
        ),
        (
            vec!["service-account", "list"],
            vec![],
            Some("[retry]\nmax_attempts = 101\n"),
            "[retry] max_attempts",
        ),
    ] {
        let dir = tempfile::tempdir().expect("tmp");
        let mut c = cli();
        if let Some(text) = profile {
            let path = dir.path().join("p.toml");
            std::fs::write(&path, text).expect("profile");
            c.arg("--config").arg(&path);
        }
        let out = c
            .args(&args)
            .envs(env)
            .env("DFNS_AUTH_TOKEN", "unused")
            .output()
            .expect("spawn");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("max_attempts must be from 1 to 100"), "{err}");
        assert!(err.contains(name), "the hint names {name}: {err}");
    }
}

#[test]
fn an_unknown_profile_key_is_a_usage_error_naming_it() {
    let err_dir = tempfile::tempdir().expect("tmp");
    let path = err_dir.path().join("p.toml");
    std::fs::write(&path, "[retry]\nattempts = 3\n").expect("profile");
    let out = cli()
        .arg("--config")
        .arg(&path)
        .args(["token", "list"])
        .output()
        .expect("spawn");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("attempts"), "{err}");
}

#[test]
fn completions_and_the_man_page_come_from_the_command_tree() {
    let out = cli().args(["completions", "bash"]).output().expect("spawn");
    assert!(out.status.success());
    let script = out.stdout;
    assert!(String::from_utf8_lossy(&script).contains("service-account"));
    // bash itself accepts the script.
    let mut check = Command::new("bash")
        .arg("-n")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("bash");
    {
        use std::io::Write as _;
        check
            .stdin
            .take()
            .expect("stdin")
            .write_all(&script)
            .expect("write");
    }
    assert!(
        check.wait().expect("bash -n").success(),
        "bash -n refused the script"
    );
    for shell in ["zsh", "fish"] {
        let out = cli().args(["completions", shell]).output().expect("spawn");
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("dfns-hsm") && text.contains("enroll"),
            "{shell}: {text}"
        );
    }
    let out = cli().arg("manpage").output().expect("spawn");
    assert!(out.status.success());
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains(".TH dfns-hsm 1"), "{page}");
    assert!(page.contains("service\\-account"), "{page}");
    // A bad shell is a usage error.
    let out = cli().args(["completions", "tcsh"]).output().expect("spawn");
    assert_eq!(out.status.code(), Some(2));
}
