//! The library's error type.
//!
//! Each variant says which remote call failed and how, so that the CLI can print a
//! clear chain and the Lambda entry point can tell whether a retry may help
//! ([`Error::is_retryable`]). No variant carries a secret. [`aws_retryable`] is the one
//! place an AWS SDK error is judged worth a retry, and [`aws_error_text`] the one place it
//! is put in words, for every AWS service the tool calls.

use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::operation::RequestId;

use rotator_core::secret::AccessKeyId;
pub(crate) use rotator_core::wire::{BodyError, StatusError};

/// Result alias for the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration or environment is unusable.
    #[error(transparent)]
    Config(#[from] rotator_core::config::ConfigError),
    /// SORACOM credentials could not be found or read.
    #[error("SORACOM credentials: {0}")]
    SoracomCredentials(String),
    /// SORACOM answered a call with an error status.
    #[error(transparent)]
    SoracomStatus(#[from] StatusError),
    /// A SORACOM call did not complete (connection, timeout).
    #[error("SORACOM {op}: {message}")]
    SoracomTransport {
        /// The operation.
        op: &'static str,
        /// What the transport said.
        message: String,
    },
    /// A SORACOM response could not be understood.
    #[error(transparent)]
    SoracomBody(#[from] BodyError),
    /// A paged SORACOM list said more pages remain but gave no usable way to reach them (or
    /// never ended): stopping there would miss references, so the listing fails instead.
    #[error("SORACOM {op}: paging broken: {problem}")]
    SoracomPaging {
        /// The operation (spec operationId).
        op: &'static str,
        /// What was wrong with the answer that leads to the next page.
        problem: PagingProblem,
    },
    /// A SORACOM response was larger than the client reads; it was not buffered.
    #[error("SORACOM {op}: response larger than {limit} bytes; refused")]
    SoracomTooLarge {
        /// The operation.
        op: &'static str,
        /// The bound, in bytes.
        limit: usize,
    },
    /// An IAM or STS call failed.
    #[error("AWS {op}: {message}")]
    Aws {
        /// The operation, e.g. `CreateAccessKey`.
        op: &'static str,
        /// AWS error code, when known (e.g. `LimitExceeded`).
        code: Option<String>,
        /// What AWS or the SDK said.
        message: String,
        /// Whether retrying later may help (throttling, 5xx, transport).
        retryable: bool,
    },
    /// The new key did not prove itself within the bound.
    #[error("new key {key} did not verify: {detail}")]
    Verify {
        /// The new key.
        key: AccessKeyId,
        /// Attempts and the last failure.
        detail: String,
    },
    /// A write was confirmed by its response to have not taken effect.
    #[error("{0}")]
    Unconfirmed(String),
    /// Another run is changing the same target; this one stepped back.
    #[error("{0}")]
    Busy(String),
    /// The OS gave no randomness (for a role's external id).
    #[error("{0}")]
    Random(String),
    /// The place the SORACOM auth key is kept (profile file, Secrets Manager) failed.
    #[error("SORACOM auth key store {store}: {message}")]
    KeyStore {
        /// Which store (a path or a secret name; never its content).
        store: String,
        /// What went wrong.
        message: String,
        /// Whether retrying later may help.
        retryable: bool,
    },
}

/// How a paged list's answer failed to lead to its next page. Never quotes a key: none is a
/// secret, but a key is the server's data and the message stays one short line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PagingProblem {
    /// `Link: <…>; rel=next` was sent (more pages remain) but its URL has no
    /// `last_evaluated_key`.
    #[error("Link rel=next has no last_evaluated_key")]
    LinkWithoutKey,
    /// `x-soracom-next-key` and `Link rel=next` name different next pages (an empty
    /// `x-soracom-next-key`, a last page, beside a `Link` to a next one among them).
    #[error("x-soracom-next-key and Link rel=next name different pages")]
    HeadersDisagree,
    /// The next page's key is one already read in this listing: the pages would repeat.
    #[error("the next-page key repeats an earlier one")]
    KeyRepeated,
    /// More pages than a listing reads at most.
    #[error("more than {max} pages")]
    TooManyPages {
        /// The bound.
        max: usize,
    },
}

impl Error {
    /// Whether the same call may succeed if retried later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::SoracomStatus(StatusError { status, .. }) => *status == 429 || *status >= 500,
            Error::SoracomTransport { .. } => true,
            Error::Aws { retryable, .. } => *retryable,
            Error::Verify { .. } => true,
            Error::KeyStore { retryable, .. } => *retryable,
            Error::Config(_)
            | Error::SoracomCredentials(_)
            | Error::SoracomBody(BodyError { .. })
            | Error::SoracomPaging { .. }
            | Error::SoracomTooLarge { .. }
            | Error::Unconfirmed(_)
            | Error::Random(_)
            | Error::Busy(_) => false,
        }
    }

    /// Whether SORACOM refused the value written (a 400 or 422): what a holder that does
    /// not accept a role credential set answers. Throttling, authorisation and a missing
    /// holder are not a refusal of the value.
    pub(crate) fn rejects_the_value(&self) -> bool {
        matches!(
            self,
            Error::SoracomStatus(StatusError {
                status: 400 | 422,
                ..
            })
        )
    }

    /// Whether the server certainly did not apply the request (a definite 4xx answer).
    pub fn is_definite_rejection(&self) -> bool {
        match self {
            Error::SoracomStatus(StatusError { status, .. }) => (400..500).contains(status),
            // A throttled or failed (5xx) AWS call may still have been applied.
            Error::Aws {
                code, retryable, ..
            } => code.is_some() && !retryable,
            _ => false,
        }
    }
}

/// AWS error codes after which the same call may succeed later: throttling and failures on
/// AWS's side, as IAM/STS, Secrets Manager and SSM name them (the union of what the IAM
/// adapter and the Lambda's Secrets Manager and SSM adapters each listed before).
pub(crate) const RETRYABLE_AWS_CODES: &[&str] = &[
    // Throttling: IAM's `Throttling`, the common `ThrottlingException` (Secrets Manager,
    // SSM), and `RequestLimitExceeded` (EC2's name for it).
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    // Failures on AWS's side: IAM's `ServiceFailure`, the common `InternalFailure`,
    // Secrets Manager's `InternalServiceError`, SSM's `InternalServerError`.
    "ServiceFailure",
    "InternalFailure",
    "InternalServiceError",
    "InternalServerError",
];

/// Whether an AWS SDK error (of any service's SDK) may go away on retry: no answer (a
/// timeout, a connection that failed, a response that could not be read), or a service
/// error whose code is one of `RETRYABLE_AWS_CODES`. Anything else — a construction
/// failure, or a service error that says the request is wrong — is not.
pub fn aws_retryable<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(s) => s
            .err()
            .code()
            .is_some_and(|c| RETRYABLE_AWS_CODES.contains(&c)),
        _ => false,
    }
}

/// The longest AWS message quoted, and the longest chain of causes told, in characters.
const MAX_AWS_TEXT: usize = 300;
/// The longest request id shown.
const MAX_REQUEST_ID: usize = 64;

/// An AWS SDK error (of any service's SDK) in one line, with AWS's error code when it sent
/// one: `<code>: <message>` as AWS sent them; for an answer whose body the SDK could not
/// read, its HTTP status (the body is never quoted: an answer to `CreateAccessKey` holds a
/// secret); for no answer, what went wrong, in each cause's own words; then the request id
/// when the answer had one. Never the SDK's debug form, which holds the whole answer.
pub fn aws_error_text<E>(err: &SdkError<E, HttpResponse>) -> (Option<String>, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (code, text) = match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let message = e.message().map(|m| bounded(m, MAX_AWS_TEXT));
            let text = match (e.code(), message) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                (None, Some(m)) => format!("HTTP {}: {m}", service.raw().status().as_u16()),
                (None, None) => format!(
                    "HTTP {}, an error body the SDK could not read",
                    service.raw().status().as_u16()
                ),
            };
            (e.code().map(str::to_string), text)
        }
        SdkError::ResponseError(r) => (
            None,
            format!(
                "HTTP {}, an answer the SDK could not read",
                r.raw().status().as_u16()
            ),
        ),
        other => (None, causes(other)),
    };
    let id = match err {
        SdkError::ServiceError(s) => s.err().meta().request_id().or_else(|| err.request_id()),
        _ => err.request_id(),
    };
    let text = match id.map(request_id).filter(|i| !i.is_empty()) {
        Some(id) => format!("{text} (request id {id})"),
        None => text,
    };
    (code, text)
}

/// An error and its causes in their own words (`Display`), joined with `: `, in one
/// bounded line. A cause that prints a debug structure (`Error { … }`) ends the line there.
pub fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if text.contains('{') {
            break;
        }
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        next = e.source();
    }
    if parts.is_empty() {
        return "an error the SDK did not describe".into();
    }
    bounded(&parts.join(": "), MAX_AWS_TEXT)
}

/// `s` on one line, at most `max` characters (cut with `…`).
fn bounded(s: &str, max: usize) -> String {
    let line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        return line;
    }
    let mut cut: String = line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A request id as shown: the characters an id is made of, bounded.
fn request_id(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_:./".contains(*c))
        .take(MAX_REQUEST_ID)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_iam::error::ErrorMetadata;
    use aws_sdk_iam::operation::list_access_keys::ListAccessKeysError;

    type Sdk = SdkError<ListAccessKeysError, ()>;

    fn service(code: &str) -> Sdk {
        let meta = ErrorMetadata::builder().code(code).build();
        SdkError::service_error(ListAccessKeysError::generic(meta), ())
    }

    /// An answer with `status`, `headers` and `body`, as the SDK hands it over.
    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        let mut r = HttpResponse::new(
            status.try_into().expect("a status"),
            aws_smithy_types::body::SdkBody::from(body),
        );
        for (k, v) in headers {
            r.headers_mut().insert(k.to_string(), v.to_string());
        }
        r
    }

    fn answered(
        meta: ErrorMetadata,
        raw: HttpResponse,
    ) -> SdkError<ListAccessKeysError, HttpResponse> {
        SdkError::service_error(ListAccessKeysError::generic(meta), raw)
    }

    /// AWS's code and message as sent; an unreadable body by its status only (never
    /// quoted: it may hold a secret); a request id when known, cleaned; one bounded line.
    #[test]
    fn aws_errors_are_worded_by_code_message_status_and_request_id() {
        let meta = ErrorMetadata::builder()
            .code("AccessDenied")
            .message("User: arn:aws:iam::1:user/u is not\nauthorized")
            .build();
        let id = [("x-amzn-requestid", "4d5e-6f")];
        let (code, text) = aws_error_text(&answered(meta, answer(403, &id, "")));
        assert_eq!(code.as_deref(), Some("AccessDenied"));
        assert_eq!(
            text,
            "AccessDenied: User: arn:aws:iam::1:user/u is not authorized (request id 4d5e-6f)"
        );
        let secret = "<SecretAccessKey>wJalrXUtnFEMI/K7MDENG</SecretAccessKey>";
        let hostile = [("x-amzn-requestid", "id <b>\"x\"</b>")];
        let unread = answered(
            ErrorMetadata::builder().build(),
            answer(502, &hostile, secret),
        );
        let (code, text) = aws_error_text(&unread);
        assert_eq!(code, None);
        assert_eq!(
            text,
            "HTTP 502, an error body the SDK could not read (request id idbx/b)"
        );
        let long = "x ".repeat(400);
        let meta = ErrorMetadata::builder()
            .code("ServiceFailure")
            .message(&long)
            .build();
        let (_, text) = aws_error_text(&answered(meta, answer(500, &[], "")));
        assert!(text.chars().count() <= 320 && text.ends_with('…'), "{text}");
        // No answer: what went wrong, in the causes' own words.
        let timeout = SdkError::<ListAccessKeysError, HttpResponse>::timeout_error(
            "the attempt took too long",
        );
        let (_, text) = aws_error_text(&timeout);
        assert_eq!(text, "request has timed out: the attempt took too long");
    }

    #[test]
    fn aws_errors_worth_a_retry_are_throttling_aws_failures_and_no_answer() {
        for code in RETRYABLE_AWS_CODES {
            assert!(aws_retryable(&service(code)), "{code}");
        }
        for code in [
            "NoSuchEntity",
            "AccessDenied",
            "LimitExceeded",
            "ParameterNotFound",
        ] {
            assert!(!aws_retryable(&service(code)), "{code}");
        }
        assert!(aws_retryable(&Sdk::timeout_error("slow")));
        assert!(!aws_retryable(&Sdk::construction_failure("bad input")));
    }
}
