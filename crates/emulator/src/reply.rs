//! What a handler answers, before it becomes an HTTP response.
//!
//! Handlers work on plain data (`Reply`, `ApiError`) so that they stay synchronous and
//! testable; the server turns them into axum responses. This module also owns the two error
//! body shapes SORACOM uses (`ErrorEnvelope`) and the error codes the emulator sends.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The shape of every error body the emulator sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorEnvelope {
    /// `{"code": …, "message": …}`, what SORACOM's documentation shows.
    #[default]
    Plain,
    /// `{"httpStatus": …, "errorMessage": {"code": …, "message": …}}`, the spec's `APICallError`.
    ApiCallError,
}

/// An API error: status, SORACOM-style code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// SORACOM-style code, e.g. `AUTH0001`.
    pub code: String,
    /// Human-readable message.
    pub message: String,
}

impl ApiError {
    /// An error with the given status, code and message.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// A 400 for a malformed request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, codes::BAD_REQUEST, message)
    }

    /// The error body in the given envelope.
    pub fn body(&self, envelope: ErrorEnvelope) -> Value {
        match envelope {
            ErrorEnvelope::Plain => json!({"code": self.code, "message": self.message}),
            ErrorEnvelope::ApiCallError => json!({
                "httpStatus": self.status,
                "errorMessage": {"code": self.code, "message": self.message},
            }),
        }
    }

    /// The error as a reply in the given envelope.
    pub fn into_reply(self, envelope: ErrorEnvelope) -> Reply {
        Reply::json(self.status, self.body(envelope))
    }
}

/// Error codes. SORACOM publishes no code table, so these are the emulator's own choice;
/// clients should rely on the status, not on a code.
pub(crate) mod codes {
    pub const AUTH_FAILED: &str = "AUTH0001";
    pub const MISSING_CREDENTIALS: &str = "AUTH0003";
    pub const INVALID_TOKEN: &str = "AUTH0004";
    pub const TOKEN_EXPIRED: &str = "AUTH0010";
    pub const BAD_REQUEST: &str = "COM0001";
    pub const BODY_TOO_LARGE: &str = "COM0002";
    pub const NO_SUCH_ROUTE: &str = "COM0004";
    pub const METHOD_NOT_ALLOWED: &str = "COM0005";
    pub const RATE_LIMITED: &str = "COM0429";
    pub const CREDENTIAL_NOT_FOUND: &str = "CRD0001";
    // SORACOM does not document the error for creating an id that already exists.
    pub const CREDENTIAL_EXISTS: &str = "CRD0002";
    /// A holder that does not accept `aws-iam-role-credentials` (`RoleRefusal`).
    pub const ROLE_CREDENTIALS_REFUSED: &str = "CRD0003";
    pub const GROUP_NOT_FOUND: &str = "GRP0001";
    pub const BAD_NAMESPACE: &str = "GRP0002";
    pub const EVENT_HANDLER_NOT_FOUND: &str = "EVT0001";
    pub const VPG_NOT_FOUND: &str = "VPG0001";
    /// No such AuthKey (delete of an unknown or another user's key).
    pub const AUTH_KEY_NOT_FOUND: &str = "AUTH0404";
    pub const INJECTED: &str = "EMU0001";
}

/// A response body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    /// No body, no content type.
    Empty,
    /// A JSON value, sent as `application/json`.
    Json(Value),
    /// Bytes sent as they are.
    Raw {
        /// The `Content-Type`.
        content_type: &'static str,
        /// The body.
        bytes: Vec<u8>,
    },
}

/// A complete answer: status, extra headers, body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Extra headers (lowercase names).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

impl Reply {
    /// A JSON reply.
    pub fn json(status: u16, value: Value) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Body::Json(value),
        }
    }

    /// A reply without a body.
    pub fn empty(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes() {
        let e = ApiError::new(404, "X1", "gone");
        assert_eq!(
            e.body(ErrorEnvelope::Plain),
            json!({"code": "X1", "message": "gone"})
        );
        assert_eq!(
            e.body(ErrorEnvelope::ApiCallError),
            json!({"httpStatus": 404, "errorMessage": {"code": "X1", "message": "gone"}})
        );
    }
}
