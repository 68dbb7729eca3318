//! SORACOM's answers on the wire, read without I/O: the one place a non-2xx answer becomes
//! an error ([`status_error`]), and the decoders of the success bodies the tool reads. The
//! HTTP client (`rotator`'s `soracom::client`) sends and receives; the fuzz target
//! `soracom_response` feeds these any bytes.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::model::{CredentialSet, Group, LogEntry};
use crate::secret::AccessKeyId;

/// Bytes of a non-JSON error body quoted in a message.
const EXCERPT: usize = 120;

/// Operations whose request body may carry a secret: an AWS secret access key or an auth
/// key, or — in a group's configuration or an event handler written back — a third
/// party's value (a webhook URL, a password, a header) that happens to sit beside the
/// reference. Their errors never quote the server.
pub(crate) const SECRET_BEARING: &[&str] = &[
    "auth",
    "createCredential",
    "updateCredential",
    "putConfigurationParameters",
    "updateEventHandler",
];

/// SORACOM answered a call with an error status.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("SORACOM {op}: HTTP {status}{}: {message}", code.as_deref().map(|c| format!(" {c}")).unwrap_or_default())]
pub struct StatusError {
    /// The operation (spec operationId).
    pub op: &'static str,
    /// HTTP status.
    pub status: u16,
    /// SORACOM error code, when the body had one.
    pub code: Option<String>,
    /// Error message, or a short excerpt of a body that was not a SORACOM error.
    pub message: String,
}

/// A SORACOM response could not be understood.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("SORACOM {op}: unexpected response: {detail}")]
pub struct BodyError {
    /// The operation.
    pub op: &'static str,
    /// What was wrong with it (never a quote of the body).
    pub detail: String,
}

/// What an answer's headers say beside its body: its content type and, for a 429, the
/// advertised rate limit.
#[derive(Clone, Copy, Debug, Default)]
pub struct ErrorHeaders<'a> {
    /// `content-type`.
    pub content_type: Option<&'a str>,
    /// `x-soracom-ratelimit-limit`.
    pub rate_limit: Option<&'a str>,
    /// `x-soracom-ratelimit-seconds-before-refresh`.
    pub refresh_seconds: Option<&'a str>,
}

/// The one place a non-2xx answer becomes an error. Accepts both SORACOM error envelopes
/// (`{code, message}` and `{httpStatus, errorMessage: {code, message}}`); any other body
/// (HTML from a load balancer, truncated JSON, empty) yields a short, single-line excerpt.
pub fn status_error(
    op: &'static str,
    status: u16,
    headers: ErrorHeaders<'_>,
    body: &[u8],
) -> StatusError {
    #[derive(Deserialize)]
    struct Plain {
        code: Option<String>,
        message: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Wrapped {
        error_message: Plain,
    }
    let parsed = serde_json::from_slice::<Wrapped>(body)
        .map(|w| w.error_message)
        .ok()
        .or_else(|| serde_json::from_slice::<Plain>(body).ok())
        .filter(|p| p.code.is_some() || p.message.is_some());
    let (code, mut message) = match parsed {
        // The server's words go into a one-line message: keep them one line, and bounded.
        Some(p) => (
            p.code.map(|c| one_line(&c, 40)),
            one_line(&p.message.unwrap_or_default(), 4 * EXCERPT),
        ),
        None if body.is_empty() => (None, "empty body".to_string()),
        None => (
            None,
            format!(
                "non-SORACOM body ({}): {}",
                headers.content_type.unwrap_or("unknown type"),
                excerpt(body)
            ),
        ),
    };
    // The request of these operations carried a secret; a server or proxy that echoes
    // the request in its error must not carry it into logs and notifications.
    if SECRET_BEARING.contains(&op) {
        message = "(the server's text is not shown: the request carried a secret)".into();
    }
    if status == 429 {
        message = format!(
            "{message} (rate limited: limit {}, retry in {} s)",
            headers.rate_limit.map_or("?".into(), |v| one_line(v, 20)),
            headers
                .refresh_seconds
                .map_or("?".into(), |v| one_line(v, 20)),
        );
    }
    StatusError {
        op,
        status,
        code,
        message,
    }
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(EXCERPT * 4)]);
    one_line(&text, EXCERPT)
}

/// `text` on one line (whitespace runs, newlines included, become one space), at most
/// `max` characters, `…` marking a cut.
fn one_line(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    for word in text.split_whitespace() {
        for c in (count > 0).then_some(' ').into_iter().chain(word.chars()) {
            if count == max {
                out.push('…');
                return out;
            }
            out.push(c);
            count += 1;
        }
    }
    out
}

/// `body` as JSON of type `T`; the error names `op` and keeps only the kind of problem and
/// its position.
pub fn decode<T: serde::de::DeserializeOwned>(
    op: &'static str,
    body: &[u8],
) -> Result<T, BodyError> {
    serde_json::from_slice(body).map_err(|e| {
        // The parser's message may quote a value of the answer (a group's configuration
        // holds third parties' secrets): only the kind of error and its position are kept.
        let detail = if body.is_empty() {
            "empty body".to_string()
        } else {
            let kind = match e.classify() {
                serde_json::error::Category::Syntax => "not valid JSON",
                serde_json::error::Category::Eof => "truncated JSON",
                serde_json::error::Category::Data => "JSON of the wrong shape",
                serde_json::error::Category::Io => "unreadable",
            };
            format!("{kind} (line {}, column {})", e.line(), e.column())
        };
        BodyError { op, detail }
    })
}

/// A `listCredentials` answer.
pub fn credentials(body: &[u8]) -> Result<Vec<CredentialSet>, BodyError> {
    let wire: Vec<WireCredential> = decode("listCredentials", body)?;
    Ok(wire.into_iter().map(CredentialSet::from).collect())
}

/// The answer of `op`, a call that writes one credential set and answers with it.
pub fn credential(op: &'static str, body: &[u8]) -> Result<CredentialSet, BodyError> {
    decode::<WireCredential>(op, body).map(CredentialSet::from)
}

/// A `listGroups` page.
pub fn groups(body: &[u8]) -> Result<Vec<Group>, BodyError> {
    let wire: Vec<WireGroup> = decode("listGroups", body)?;
    Ok(wire.into_iter().map(Group::from).collect())
}

/// A `putConfigurationParameters` answer.
pub fn group(body: &[u8]) -> Result<Group, BodyError> {
    decode::<WireGroup>("putConfigurationParameters", body).map(Group::from)
}

/// One object answered by `op` that must carry `id_field` = `id` (an event handler's
/// `handlerId`, a VPG's `vpgId`): anything else is a malformed answer, never a holder
/// whose references are gone.
pub fn one(op: &'static str, body: &[u8], id_field: &str, id: &str) -> Result<Value, BodyError> {
    let value: Value = decode(op, body)?;
    if value.get(id_field).and_then(Value::as_str) != Some(id) {
        return Err(BodyError {
            op,
            detail: format!("the answer is not the object asked for (no {id_field} {id})"),
        });
    }
    Ok(value)
}

/// A `listVirtualPrivateGateways` page: `VirtualPrivateGateway` objects as they are.
pub fn vpgs(body: &[u8]) -> Result<Vec<Value>, BodyError> {
    let op = "listVirtualPrivateGateways";
    let vpgs: Vec<Value> = decode(op, body)?;
    if !vpgs.iter().all(Value::is_object) {
        return Err(BodyError {
            op,
            detail: "an entry is not an object".into(),
        });
    }
    Ok(vpgs)
}

/// A `getLogs` page, without trusting its entries' shape beyond the spec's types.
pub fn log_entries(body: &[u8]) -> Result<Vec<LogEntry>, BodyError> {
    let op = "getLogs";
    let raw: Vec<Value> = decode(op, body)?;
    raw.iter()
        .map(log_entry)
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| BodyError {
            op,
            detail: "an entry is not a LogEntry".into(),
        })
}

/// One `LogEntry`: a service is required, the rest optional.
fn log_entry(v: &Value) -> Option<LogEntry> {
    let o = v.as_object()?;
    let at = o
        .get("time")
        .and_then(Value::as_i64)
        .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok());
    Some(LogEntry {
        service: o.get("service")?.as_str()?.to_string(),
        at,
        resource_id: o
            .get("resourceId")
            .and_then(Value::as_str)
            .map(str::to_string),
        body: o.get("body").cloned().unwrap_or(Value::Null),
    })
}

/// SORACOM timestamps are epoch milliseconds; a value that can only be seconds is read as such.
fn timestamp(v: Option<i64>) -> Option<OffsetDateTime> {
    let v = v.filter(|v| *v > 0)?;
    let nanos = if v < 100_000_000_000 {
        i128::from(v) * 1_000_000_000
    } else {
        i128::from(v) * 1_000_000
    };
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCredential {
    credentials_id: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    description: Option<String>,
    create_date_time: Option<i64>,
    update_date_time: Option<i64>,
    last_used_date_time: Option<i64>,
    /// For `aws-credentials`, SORACOM reports the access key id here (never the secret).
    #[serde(default)]
    credentials: Option<Value>,
}

impl From<WireCredential> for CredentialSet {
    fn from(w: WireCredential) -> CredentialSet {
        let api_key = w
            .credentials
            .as_ref()
            .and_then(|c| c.get("accessKeyId"))
            .and_then(Value::as_str)
            .and_then(AccessKeyId::parse);
        CredentialSet {
            id: w.credentials_id,
            kind: w.kind,
            description: w.description.unwrap_or_default(),
            created: timestamp(w.create_date_time),
            updated: timestamp(w.update_date_time),
            last_used: timestamp(w.last_used_date_time),
            api_key,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireGroup {
    group_id: String,
    #[serde(default)]
    tags: Option<HashMap<String, Value>>,
    #[serde(default)]
    configuration: Option<serde_json::Map<String, Value>>,
}

impl From<WireGroup> for Group {
    fn from(w: WireGroup) -> Group {
        Group {
            id: w.group_id,
            name: w
                .tags
                .and_then(|t| t.get("name").and_then(Value::as_str).map(str::to_string)),
            configuration: w.configuration.unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json() -> ErrorHeaders<'static> {
        ErrorHeaders {
            content_type: Some("application/json"),
            ..ErrorHeaders::default()
        }
    }

    #[test]
    fn maps_both_error_envelopes_and_foreign_bodies() {
        let e = status_error(
            "listGroups",
            400,
            json(),
            br#"{"code":"COM0001","message":"bad"}"#,
        );
        assert_eq!(e.to_string(), "SORACOM listGroups: HTTP 400 COM0001: bad");
        let e = status_error(
            "listGroups",
            400,
            json(),
            br#"{"httpStatus":400,"errorMessage":{"code":"X1","message":"wrapped"}}"#,
        );
        assert_eq!(e.to_string(), "SORACOM listGroups: HTTP 400 X1: wrapped");
        let html = ErrorHeaders {
            content_type: Some("text/html"),
            ..ErrorHeaders::default()
        };
        let s = status_error(
            "listGroups",
            502,
            html,
            b"<html>\n<body>502 Bad Gateway</body></html>",
        )
        .to_string();
        assert!(
            s.contains("HTTP 502")
                && s.contains("text/html")
                && s.contains("502 Bad Gateway")
                && !s.contains('\n'),
            "{s}"
        );
        let e = status_error("listGroups", 500, json(), br#"{"code":"X","mess"#);
        assert!(e.to_string().contains("non-SORACOM body"), "{e}");
        let e = status_error("listGroups", 503, json(), b"");
        assert!(e.to_string().contains("empty body"), "{e}");
        let long = vec![b'a'; 10_000];
        assert!(
            status_error("listGroups", 500, json(), &long)
                .to_string()
                .len()
                < 400
        );
        let rl = ErrorHeaders {
            rate_limit: Some("60"),
            refresh_seconds: Some("7"),
            ..ErrorHeaders::default()
        };
        let s = status_error("listGroups", 429, rl, b"").to_string();
        assert!(s.contains("limit 60") && s.contains("retry in 7 s"), "{s}");
    }

    #[test]
    fn a_long_server_message_is_one_bounded_line() {
        // Valid JSON whose message holds an escaped newline and 100 kB (once found by the
        // fuzz target `soracom_response`).
        let mut body = br#"{"code":"X","message":"line one\nline two "#.to_vec();
        body.extend(std::iter::repeat_n(b'a', 100_000));
        body.extend_from_slice(br#""}"#);
        let s = status_error("listGroups", 400, json(), &body).to_string();
        assert!(!s.contains(['\n', '\r']), "{s}");
        assert!(
            s.len() <= 1024 && s.contains("HTTP 400"),
            "{} bytes",
            s.len()
        );
    }

    #[test]
    fn errors_of_secret_bearing_calls_never_quote_the_server() {
        let echo = br#"{"code":"CRD0001","message":"bad secretAccessKey wJalrXUtnFEMI"}"#;
        let s = status_error("createCredential", 400, json(), echo).to_string();
        assert!(s.contains("CRD0001") && !s.contains("wJalr"), "{s}");
        let s = status_error(
            "updateCredential",
            500,
            json(),
            b"<html>wJalrXUtnFEMI</html>",
        )
        .to_string();
        assert!(!s.contains("wJalr"), "{s}");
        let s = status_error("listCredentials", 400, json(), echo).to_string();
        assert!(
            s.contains("bad secretAccessKey"),
            "other calls keep the server's words: {s}"
        );
    }

    #[test]
    fn timestamps_accept_milliseconds_and_seconds() {
        let ms = timestamp(Some(1_660_089_600_000));
        let s = timestamp(Some(1_660_089_600));
        assert_eq!(ms, s);
        assert_eq!(ms.map(|t| t.year()), Some(2022));
        assert_eq!(timestamp(Some(0)), None);
        assert_eq!(timestamp(None), None);
    }

    #[test]
    fn a_listed_set_shows_its_access_key_id_only_when_it_is_one() {
        let body = br#"[{"credentialsId":"a","type":"aws-credentials","credentials":{"accessKeyId":"AKIAIOSFODNN7EXAMPLE"}},
                        {"credentialsId":"b","type":"aws-credentials","credentials":{"accessKeyId":"not a key"}}]"#;
        let sets = credentials(body).unwrap_or_default();
        assert_eq!(sets.len(), 2);
        assert_eq!(
            sets[0].api_key.as_ref().map(|k| k.as_str()),
            Some("AKIAIOSFODNN7EXAMPLE")
        );
        assert_eq!(sets[1].api_key, None);
    }
}
