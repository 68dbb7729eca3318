//! Types that hold secrets or identify keys, made safe to print.
//!
//! A [`Secret`] never shows its value through `Debug` or `Display`; code that must send
//! it calls [`Secret::expose`] at the one place it goes on the wire. An
//! [`AccessKeyId`] is not secret, but operators expect it masked in output
//! (`AKIA************ABCD`), so its `Display` masks and [`AccessKeyId::as_str`] is
//! reserved for API calls and the credential-set link.

use std::fmt;

/// A secret string (AWS secret access key, SORACOM auth key, API key or token).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The raw value, for the request that needs it; never format it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// An AWS access key id; displayed masked.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccessKeyId(String);

impl AccessKeyId {
    /// Wraps an access key id as AWS returned it.
    pub fn new(id: impl Into<String>) -> Self {
        AccessKeyId(id.into())
    }

    /// Whether `s` has the shape of an access key id: 16 to 128 upper-case letters and
    /// digits (what IAM documents; the ones it makes today are 20 long).
    pub fn is_shaped(s: &str) -> bool {
        (16..=128).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    }

    /// `s` as an access key id, if it has the shape of one (input from people and events).
    pub fn parse(s: &str) -> Option<Self> {
        Self::is_shaped(s).then(|| AccessKeyId(s.to_string()))
    }

    /// The full id, for API calls and the link written into a credential set.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id with all but its first and last four characters hidden.
    pub(crate) fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// Masks an identifier: the first and last four characters stay, the rest become `*`.
/// Identifiers of eight characters or fewer are hidden entirely.
pub fn mask(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 8))
}

impl fmt::Display for AccessKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for AccessKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccessKeyId({})", self.masked())
    }
}

impl serde::Serialize for AccessKeyId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.masked())
    }
}

/// A freshly created access key: the only moment its secret is known.
#[derive(Clone, Debug)]
pub struct NewAccessKey {
    /// The new key's id.
    pub id: AccessKeyId,
    /// Its secret, shown once by IAM.
    pub secret: Secret,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_redacted_in_debug_and_display() {
        let s = Secret::new("wJalrXUtnFEMI/K7MDENG");
        assert_eq!(format!("{s}"), "[redacted]");
        assert!(!format!("{s:?}").contains("wJalr"));
        let k = NewAccessKey {
            id: AccessKeyId::new("AKIAIOSFODNN7EXAMPLE"),
            secret: s,
        };
        let dbg = format!("{k:?}");
        assert!(!dbg.contains("wJalr"), "{dbg}");
        assert!(!dbg.contains("IOSFODNN7EX"), "{dbg}");
    }

    #[test]
    fn key_ids_are_masked() {
        let id = AccessKeyId::new("AKIAIOSFODNN7EXAMPLE");
        assert_eq!(id.to_string(), "AKIA************MPLE");
        assert_eq!(
            serde_json::to_string(&id).ok().as_deref(),
            Some("\"AKIA************MPLE\"")
        );
        assert_eq!(mask("short"), "*****");
        assert_eq!(mask(""), "");
    }
}
