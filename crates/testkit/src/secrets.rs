//! The secrets of one test world, gathered from the whole history of its scenario, and the
//! search for them in every byte the code under test wrote.
//!
//! A [`Ledger`] is filled from three sources: what the test handed to the code under test
//! ([`Ledger::add`]: its SORACOM AuthKey, its own AWS secret, a webhook URL, third-party
//! values planted in groups and event handlers), what the SORACOM emulator saw or issued
//! (every request body's `secretAccessKey` and `authKey`, every API key and token header,
//! every AuthKey it generated, deleted ones included) and what the AWS proxy saw come back
//! from IAM (every `SecretAccessKey` of a `CreateAccessKey`, including the answer of a call
//! the client never heard). Secrets that failed, were rolled back or were deleted are
//! searched for too: those are the error paths where a leak is likeliest.

use std::collections::BTreeSet;
use std::sync::Mutex;

use serde_json::Value;
use soracom_emulator::Emulator;

use crate::aws_proxy::AwsProxy;

/// Shortest secret searched for; a test that plants a shorter one gets a panic, since a
/// search for it would find it by chance.
pub const MIN_LEN: usize = 12;

/// What one search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Distinct secrets searched for.
    pub secrets: usize,
    /// Bytes searched.
    pub bytes: usize,
    /// The first four characters of each secret found (never the whole secret).
    pub found: Vec<String>,
}

/// A world's secrets and everything its code under test wrote.
#[derive(Debug, Default)]
pub struct Ledger {
    secrets: Mutex<BTreeSet<String>>,
    output: Mutex<Vec<u8>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// A secret the test handed to the code under test.
    ///
    /// # Panics
    /// When it is shorter than [`MIN_LEN`]: use a distinctive test secret of realistic length.
    pub fn add(&self, secret: impl Into<String>) {
        let secret = secret.into();
        assert!(
            secret.len() >= MIN_LEN,
            "test secret {:?}… is too short to search for",
            secret.get(..4).unwrap_or_default()
        );
        lock(&self.secrets).insert(secret);
    }

    /// Bytes the code under test wrote (stdout, stderr, logs, a response, a message).
    pub fn wrote(&self, bytes: &[u8]) {
        lock(&self.output).extend_from_slice(bytes);
    }

    /// Everything written so far, as text.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&lock(&self.output)).into_owned()
    }

    /// Adds every secret the emulator and (when given) the AWS proxy saw or issued.
    pub fn harvest(&self, emu: &Emulator, proxy: Option<&AwsProxy>) {
        let mut found: Vec<String> = emu.issued_auth_keys();
        for r in emu.requests() {
            if let Some(body) = r
                .body
                .as_deref()
                .and_then(|b| serde_json::from_slice::<Value>(b).ok())
            {
                found.extend(secret_fields(&body));
            }
            for (k, v) in &r.headers {
                if k == "x-soracom-api-key" || k == "x-soracom-token" {
                    found.push(v.clone());
                }
            }
        }
        if let Some(proxy) = proxy {
            for call in proxy.calls() {
                found.extend(call.secrets);
            }
        }
        let mut secrets = lock(&self.secrets);
        // Harvested values are the code's, not the test's: a short one is not a test
        // mistake, and searching for it would only find noise.
        secrets.extend(found.into_iter().filter(|s| s.len() >= MIN_LEN));
    }

    /// The secrets known so far.
    pub fn secrets(&self) -> Vec<String> {
        lock(&self.secrets).iter().cloned().collect()
    }

    /// Searches everything written for every secret known.
    pub fn scan(&self) -> Scan {
        let output = self.output();
        let secrets = lock(&self.secrets);
        Scan {
            secrets: secrets.len(),
            bytes: output.len(),
            found: secrets
                .iter()
                .filter(|s| output.contains(s.as_str()))
                .map(|s| s.chars().take(4).collect())
                .collect(),
        }
    }
}

/// Values of the members that carry secrets in SORACOM request bodies: credential sets'
/// `secretAccessKey` (and any other member of `credentials` but the key id and role ARN)
/// and the `authKey` of `POST /auth`, wherever they sit.
fn secret_fields(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("authKey" | "secretAccessKey" | "password" | "token", Value::String(s)) => {
                        out.push(s.clone());
                    }
                    ("credentials", Value::Object(c)) => {
                        for (ck, cv) in c {
                            if let (false, Value::String(s)) =
                                (matches!(ck.as_str(), "accessKeyId" | "roleArn"), cv)
                            {
                                out.push(s.clone());
                            }
                        }
                    }
                    _ => out.extend(secret_fields(x)),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| out.extend(secret_fields(x))),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_secret_members_anywhere_in_a_body() {
        let body = json!({
            "type": "aws-credentials",
            "credentials": {"accessKeyId": "AKIAEXAMPLEEXAMPLE", "secretAccessKey": "wJalrXUtnFEMI/K7MDENG"},
            "nested": [{"authKey": "secret-abc-0123456789"}]
        });
        let mut got = secret_fields(&body);
        got.sort();
        assert_eq!(got, ["secret-abc-0123456789", "wJalrXUtnFEMI/K7MDENG"]);
    }

    #[test]
    fn a_scan_names_what_it_found_by_its_first_characters() {
        let l = Ledger::new();
        l.add("abcd-this-is-a-secret");
        l.add("efgh-this-is-another");
        l.wrote(b"log: abcd-this-is-a-secret leaked");
        let s = l.scan();
        assert_eq!(s.found, ["abcd"]);
        assert_eq!(s.secrets, 2);
    }

    #[test]
    #[should_panic(expected = "too short")]
    fn a_short_test_secret_is_refused() {
        Ledger::new().add("short");
    }
}
