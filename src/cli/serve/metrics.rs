//! The service's counters, rendered as Prometheus text for `GET /metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the sign-latency histogram.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Counters shared by every request.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    signatures: BTreeMap<(String, String, String), u64>,
    latency_counts: [u64; BUCKETS.len()],
    latency_sum: f64,
    latency_total: u64,
    hsm_faults: BTreeMap<String, u64>,
    proxied: BTreeMap<u16, u64>,
    denials: BTreeMap<String, u64>,
}

impl Metrics {
    fn with(&self, f: impl FnOnce(&mut Inner)) {
        // A poisoned lock only means a panic mid-update: the counters are still usable.
        let mut inner = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&mut inner);
    }

    /// One signature request ended: `outcome` is `ok` or an error class.
    pub fn signature(&self, identity: &str, algorithm: &str, outcome: &str, took: Duration) {
        self.with(|m| {
            *m.signatures
                .entry((
                    identity.to_owned(),
                    algorithm.to_owned(),
                    outcome.to_owned(),
                ))
                .or_default() += 1;
            let secs = took.as_secs_f64();
            for (i, bound) in BUCKETS.iter().enumerate() {
                if secs <= *bound {
                    m.latency_counts[i] += 1;
                }
            }
            m.latency_sum += secs;
            m.latency_total += 1;
        });
    }

    /// The HSM answered with `code` (a `CKR_` name) where a signature was asked for.
    pub fn hsm_fault(&self, code: &str) {
        self.with(|m| *m.hsm_faults.entry(code.to_owned()).or_default() += 1);
    }

    /// A proxied request was answered with `status`.
    pub fn proxied(&self, status: u16) {
        self.with(|m| *m.proxied.entry(status).or_default() += 1);
    }

    /// A request was refused by the policy for `reason`.
    pub fn denied(&self, reason: &str) {
        self.with(|m| *m.denials.entry(reason.to_owned()).or_default() += 1);
    }

    /// Prometheus text exposition. `gauges` are sampled by the caller at scrape time.
    pub fn render(&self, gauges: &Gauges) -> String {
        let m = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let mut out = String::new();
        let _ = writeln!(out, "# HELP dfns_hsm_signatures_total Signatures made (for /v1/sign and inside the proxy), by identity, algorithm and outcome.\n# TYPE dfns_hsm_signatures_total counter");
        for ((identity, algorithm, outcome), n) in &m.signatures {
            let _ = writeln!(
                out,
                "dfns_hsm_signatures_total{{identity=\"{}\",algorithm=\"{}\",outcome=\"{}\"}} {n}",
                label(identity),
                label(algorithm),
                label(outcome)
            );
        }
        let _ = writeln!(out, "# HELP dfns_hsm_sign_duration_seconds Time each signature took on the HSM, self-check included.\n# TYPE dfns_hsm_sign_duration_seconds histogram");
        for (bound, n) in BUCKETS.iter().zip(m.latency_counts) {
            let _ = writeln!(
                out,
                "dfns_hsm_sign_duration_seconds_bucket{{le=\"{bound}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "dfns_hsm_sign_duration_seconds_bucket{{le=\"+Inf\"}} {t}\ndfns_hsm_sign_duration_seconds_sum {s}\ndfns_hsm_sign_duration_seconds_count {t}",
            t = m.latency_total,
            s = m.latency_sum
        );
        let _ = writeln!(out, "# HELP dfns_hsm_hsm_faults_total PKCS#11 errors met while signing, by CKR name.\n# TYPE dfns_hsm_hsm_faults_total counter");
        for (code, n) in &m.hsm_faults {
            let _ = writeln!(
                out,
                "dfns_hsm_hsm_faults_total{{code=\"{}\"}} {n}",
                label(code)
            );
        }
        let _ = writeln!(out, "# HELP dfns_hsm_pool_sessions_in_use PKCS#11 worker sessions checked out now.\n# TYPE dfns_hsm_pool_sessions_in_use gauge\ndfns_hsm_pool_sessions_in_use {}", gauges.sessions_in_use);
        let _ = writeln!(out, "# HELP dfns_hsm_proxy_requests_total Proxied requests by the status returned.\n# TYPE dfns_hsm_proxy_requests_total counter");
        for (status, n) in &m.proxied {
            let _ = writeln!(
                out,
                "dfns_hsm_proxy_requests_total{{status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(out, "# HELP dfns_hsm_policy_denials_total Requests refused by the client policy, by reason.\n# TYPE dfns_hsm_policy_denials_total counter");
        for (reason, n) in &m.denials {
            let _ = writeln!(
                out,
                "dfns_hsm_policy_denials_total{{reason=\"{}\"}} {n}",
                label(reason)
            );
        }
        let _ = writeln!(out, "# HELP dfns_hsm_auth_token_expiry_seconds Seconds until each identity's Dfns token expires.\n# TYPE dfns_hsm_auth_token_expiry_seconds gauge");
        for (identity, secs) in &gauges.token_expiry {
            let _ = writeln!(
                out,
                "dfns_hsm_auth_token_expiry_seconds{{identity=\"{}\"}} {secs}",
                label(identity)
            );
        }
        out
    }
}

/// Values read at scrape time.
#[derive(Debug, Default)]
pub struct Gauges {
    /// Worker sessions checked out, over every token.
    pub sessions_in_use: usize,
    /// (identity, seconds to expiry; negative once expired).
    pub token_expiry: Vec<(String, i64)>,
}

/// A label value with `\`, `"` and newlines escaped, as the text format requires.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histogram_and_escaped_labels() {
        let m = Metrics::default();
        m.signature("a\"b", "ecdsa-p256", "ok", Duration::from_millis(3));
        m.signature("a\"b", "ecdsa-p256", "ok", Duration::from_millis(30));
        m.hsm_fault("CKR_DEVICE_ERROR");
        m.proxied(202);
        m.denied("route");
        let text = m.render(&Gauges {
            sessions_in_use: 2,
            token_expiry: vec![("t".into(), 86_400)],
        });
        assert!(text.contains(
            "dfns_hsm_signatures_total{identity=\"a\\\"b\",algorithm=\"ecdsa-p256\",outcome=\"ok\"} 2"
        ), "{text}");
        assert!(
            text.contains("dfns_hsm_sign_duration_seconds_bucket{le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("dfns_hsm_sign_duration_seconds_bucket{le=\"0.05\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("dfns_hsm_sign_duration_seconds_count 2"),
            "{text}"
        );
        assert!(text.contains("dfns_hsm_hsm_faults_total{code=\"CKR_DEVICE_ERROR\"} 1"));
        assert!(text.contains("dfns_hsm_pool_sessions_in_use 2"));
        assert!(text.contains("dfns_hsm_proxy_requests_total{status=\"202\"} 1"));
        assert!(text.contains("dfns_hsm_policy_denials_total{reason=\"route\"} 1"));
        assert!(text.contains("dfns_hsm_auth_token_expiry_seconds{identity=\"t\"} 86400"));
    }
}
