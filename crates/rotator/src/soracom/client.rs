//! [`SoracomClient`]: the HTTP client for the SORACOM API.
//!
//! Every call goes through [`SoracomClient::call`], which logs in when needed (and once
//! more if the token expires mid-run), paces itself by the advertised rate limits (see
//! [`super::limiter`]: with the headers present no call draws a 429), retries
//! transport errors, 429 and 5xx with bounded backoff — 429 for any method, since the
//! server did not process the request, the others only for idempotent calls — and hands
//! non-2xx answers to [`status_error`], the one place that turns status and body into an
//! error. Requests travel through a [`Transport`]: [`Http`] in production (its base URL is
//! a field, so tests point it at the emulator), an in-memory one to the emulator in
//! in-process tests and the simulator. Every wait (backoff, pacing) is the injected
//! [`Clock`]'s.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use super::limiter::{Limiter, Seen};
use super::transport::{Headers, Http, Method, Request, Transport};
use super::{AuthKey, Endpoint, Group, GroupPage, SoracomApi, VpgPage};
use crate::clock::Clock;

mod authkeys;
pub use authkeys::Identity;
use rotator_core::config::SoracomSettings;
use rotator_core::model::CredentialSet;
use rotator_core::secret::{NewAccessKey, Secret};
use rotator_core::wire::{self, status_error, ErrorHeaders};

use crate::error::{BodyError, Error, PagingProblem, Result, StatusError};

/// Longest backoff between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// One SORACOM operation: its spec operationId and path template (the rate-limit scope).
#[derive(Clone, Copy, Debug)]
struct Op {
    id: &'static str,
    template: &'static str,
    idempotent: bool,
}

impl Op {
    /// An operation that may be sent again after a transport error or 5xx.
    const fn idempotent(id: &'static str, template: &'static str) -> Op {
        Op {
            id,
            template,
            idempotent: true,
        }
    }

    /// An operation sent again only after a 429 (the server did not process it): a
    /// create, after which the caller lists, then decides.
    const fn once(id: &'static str, template: &'static str) -> Op {
        Op {
            id,
            template,
            idempotent: false,
        }
    }
}

const AUTH: Op = Op::once("auth", "/auth");
const LIST_CREDENTIALS: Op = Op::idempotent("listCredentials", "/credentials");
const CREATE_CREDENTIAL: Op = Op::once("createCredential", "/credentials/{credentials_id}");
const UPDATE_CREDENTIAL: Op = Op::idempotent("updateCredential", "/credentials/{credentials_id}");
const DELETE_CREDENTIAL: Op = Op::idempotent("deleteCredential", "/credentials/{credentials_id}");
const LIST_GROUPS: Op = Op::idempotent("listGroups", "/groups");
const PUT_CONFIG: Op = Op::idempotent(
    "putConfigurationParameters",
    "/groups/{group_id}/configuration/{namespace}",
);
const LIST_HANDLERS: Op = Op::idempotent("listEventHandlers", "/event_handlers");
const GET_HANDLER: Op = Op::idempotent("getEventHandler", "/event_handlers/{handler_id}");
const UPDATE_HANDLER: Op = Op::idempotent("updateEventHandler", "/event_handlers/{handler_id}");
const LIST_VPGS: Op = Op::idempotent("listVirtualPrivateGateways", "/virtual_private_gateways");
const GET_VPG: Op = Op::idempotent(
    "getVirtualPrivateGateway",
    "/virtual_private_gateways/{vpg_id}",
);
const SET_INSPECTION: Op = Op::idempotent(
    "setInspectionConfiguration",
    "/virtual_private_gateways/{vpg_id}/junction/set_inspection",
);

const GET_LOGS: Op = Op::idempotent("getLogs", "/logs");

/// An authenticated session.
struct Session {
    api_key: Secret,
    token: Secret,
    /// Bumped on each login so concurrent 401s re-login once, not once each.
    generation: u64,
}

/// A successful response.
struct Reply {
    headers: Headers,
    body: Vec<u8>,
}

/// Client for the SORACOM API, over the transport `T`.
pub struct SoracomClient<T = Http> {
    transport: T,
    key: AuthKey,
    settings: SoracomSettings,
    session: tokio::sync::Mutex<Option<Session>>,
    generation: Mutex<u64>,
    /// Per path template pacing by the advertised rate limits.
    limiter: Limiter,
    clock: Arc<dyn Clock>,
}

impl<T> std::fmt::Debug for SoracomClient<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoracomClient")
            .field("auth_key_id", &self.key.id)
            .finish()
    }
}

impl SoracomClient<Http> {
    /// A client for `endpoint` over HTTP that logs in with `key` on first use.
    pub(crate) fn new(
        endpoint: Endpoint,
        key: AuthKey,
        settings: SoracomSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<SoracomClient<Http>> {
        let http = Http::new(endpoint, settings.request_timeout)?;
        Ok(SoracomClient::over(http, key, settings, clock))
    }
}

impl<T: Transport> SoracomClient<T> {
    /// A client over `transport` that logs in with `key` on first use.
    pub fn over(
        transport: T,
        key: AuthKey,
        settings: SoracomSettings,
        clock: Arc<dyn Clock>,
    ) -> SoracomClient<T> {
        SoracomClient {
            transport,
            key,
            settings,
            session: tokio::sync::Mutex::new(None),
            generation: Mutex::new(0),
            limiter: Limiter::default(),
            clock,
        }
    }

    /// The clock of this client's waits.
    pub(crate) fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// Logs in now (otherwise the first call does); checks the auth key early.
    pub async fn login(&self) -> Result<()> {
        let mut guard = self.session.lock().await;
        *guard = Some(self.authenticate().await?);
        Ok(())
    }

    async fn authenticate(&self) -> Result<Session> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct AuthReply {
            api_key: String,
            token: String,
        }
        let body = json!({"authKeyId": self.key.id, "authKey": self.key.secret.expose()});
        let reply = self
            .send_once(AUTH, Method::Post, "/auth", &[], Some(&body), None)
            .await?;
        // The body holds the token: never quote it in an error.
        let auth: AuthReply = serde_json::from_slice(&reply.body).map_err(|_| {
            Error::SoracomBody(BodyError {
                op: AUTH.id,
                detail: "the auth response has no apiKey/token".into(),
            })
        })?;
        let generation = {
            let mut g = self
                .generation
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *g += 1;
            *g
        };
        Ok(Session {
            api_key: Secret::new(auth.api_key),
            token: Secret::new(auth.token),
            generation,
        })
    }

    /// The current session's headers, logging in if there is none.
    async fn credentials(&self) -> Result<(Secret, Secret, u64)> {
        let mut guard = self.session.lock().await;
        if guard.is_none() {
            *guard = Some(self.authenticate().await?);
        }
        match guard.as_ref() {
            Some(s) => Ok((s.api_key.clone(), s.token.clone(), s.generation)),
            None => Err(Error::SoracomCredentials("no session".into())),
        }
    }

    /// Drops the session of `generation` (after a 401) so the next call logs in again.
    async fn invalidate(&self, generation: u64) {
        let mut guard = self.session.lock().await;
        if guard.as_ref().is_some_and(|s| s.generation == generation) {
            *guard = None;
        }
    }

    /// One HTTP exchange: rate-limit pacing, send, map the status. No retry.
    async fn send_once(
        &self,
        op: Op,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        auth: Option<(&Secret, &Secret)>,
    ) -> Result<Reply> {
        let permit = self.limiter.acquire(op.template, &*self.clock).await;
        let path = format!("/v1{path}");
        let mut headers = vec![("X-Soracom-Lang", "en")];
        if let Some((api_key, token)) = auth {
            headers.push(("X-Soracom-API-Key", api_key.expose()));
            headers.push(("X-Soracom-Token", token.expose()));
        }
        let request = Request {
            op: op.id,
            method,
            path: &path,
            query,
            headers,
            body: body.map(|b| b.to_string().into_bytes()),
        };
        // A transport error drops the permit: counted as a call without an answer.
        let response = self.transport.send(request).await?;
        let status = response.status;
        permit.done(Seen::from_answer(status, &response.headers));
        if (200..300).contains(&status) {
            return Ok(Reply {
                headers: response.headers,
                body: response.body,
            });
        }
        let header = |name: &str| response.headers.get(name);
        let seen = ErrorHeaders {
            content_type: header("content-type"),
            rate_limit: header("x-soracom-ratelimit-limit"),
            refresh_seconds: header("x-soracom-ratelimit-seconds-before-refresh"),
        };
        Err(status_error(op.id, status, seen, &response.body).into())
    }

    /// A call with login, one re-login on 401, and bounded retries.
    async fn call(
        &self,
        op: Op,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Reply> {
        let attempts = self.settings.retry_attempts.max(1);
        let mut relogged = false;
        let mut attempt = 0;
        // Whether an earlier attempt may have been applied (no answer, or a 5xx): then a
        // later 4xx does not prove the request was rejected.
        let mut unknown_outcome = false;
        loop {
            attempt += 1;
            let (api_key, token, generation) = self.credentials().await?;
            let result = self
                .send_once(op, method, path, query, body, Some((&api_key, &token)))
                .await;
            let err = match result {
                Ok(reply) => return Ok(reply),
                Err(e) => e,
            };
            let retry_after = match &err {
                Error::SoracomStatus(StatusError { status: 401, .. }) if !relogged => {
                    tracing::info!(op = op.id, "token rejected; logging in again");
                    relogged = true;
                    self.invalidate(generation).await;
                    // A re-login does not use up an attempt.
                    attempt -= 1;
                    Some(Duration::ZERO)
                }
                Error::SoracomStatus(StatusError { status: 429, .. }) => {
                    Some(self.rate_wait(op.template, attempt))
                }
                Error::SoracomStatus(StatusError { status, .. })
                    if *status >= 500 && op.idempotent =>
                {
                    Some(self.backoff(attempt))
                }
                Error::SoracomTransport { .. } if op.idempotent => Some(self.backoff(attempt)),
                _ => None,
            };
            match retry_after {
                Some(wait) if attempt < attempts => {
                    tracing::warn!(op = op.id, attempt, wait_ms = wait.as_millis() as u64, error = %err, "retrying");
                    unknown_outcome |= !err.is_definite_rejection();
                    self.clock.sleep(wait).await;
                }
                _ if unknown_outcome && err.is_definite_rejection() => {
                    return Err(Error::SoracomTransport {
                        op: op.id,
                        message: format!("{err}; an earlier attempt's outcome is unknown"),
                    })
                }
                _ => return Err(err),
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
        self.settings
            .retry_base
            .saturating_mul(factor)
            .min(MAX_BACKOFF)
    }

    /// After a 429: none when the limit is advertised (the limiter waits for the refresh
    /// before the next attempt), else the bounded backoff.
    fn rate_wait(&self, template: &'static str, attempt: u32) -> Duration {
        if self.limiter.is_limited(template) {
            Duration::ZERO
        } else {
            self.backoff(attempt)
        }
    }

    /// Creates or replaces an `aws-credentials` set; the body carries the secret.
    async fn write_credential(
        &self,
        op: Op,
        method: Method,
        id: &str,
        description: &str,
        key: &NewAccessKey,
    ) -> Result<CredentialSet> {
        let path = format!("/credentials/{}", path_segment(op.id, id)?);
        let body = json!({
            "type": "aws-credentials",
            "description": description,
            "credentials": {"accessKeyId": key.id.as_str(), "secretAccessKey": key.secret.expose()},
        });
        let reply = self.call(op, method, &path, &[], Some(&body)).await?;
        Ok(wire::credential(op.id, &reply.body)?)
    }
}

/// Ids go into URL paths; refuse anything that would change the path.
fn path_segment(op: &'static str, id: &str) -> Result<String> {
    if id.is_empty() || id.contains(['/', '?', '#', '%']) || id == "." || id == ".." {
        return Err(Error::SoracomBody(BodyError {
            op,
            detail: format!("unusable id {id:?}"),
        }));
    }
    Ok(id.to_string())
}

impl<T: Transport> SoracomApi for SoracomClient<T> {
    async fn list_credentials(&self) -> Result<Vec<CredentialSet>> {
        let reply = self
            .call(LIST_CREDENTIALS, Method::Get, "/credentials", &[], None)
            .await?;
        Ok(wire::credentials(&reply.body)?)
    }

    async fn create_credential(
        &self,
        id: &str,
        description: &str,
        key: &NewAccessKey,
    ) -> Result<CredentialSet> {
        self.write_credential(CREATE_CREDENTIAL, Method::Post, id, description, key)
            .await
    }

    async fn update_credential(
        &self,
        id: &str,
        description: &str,
        key: &NewAccessKey,
    ) -> Result<CredentialSet> {
        self.write_credential(UPDATE_CREDENTIAL, Method::Put, id, description, key)
            .await
    }

    async fn create_role_credential(
        &self,
        id: &str,
        description: &str,
        role_arn: &str,
        external_id: &Secret,
    ) -> Result<CredentialSet> {
        let op = CREATE_CREDENTIAL;
        let path = format!("/credentials/{}", path_segment(op.id, id)?);
        // The spec's `IAMRoleCredentials` example of createCredential: the external id
        // guards the role, so the request is secret-bearing (`SECRET_BEARING`).
        let body = json!({
            "type": rotator_core::role::ROLE_CREDENTIALS,
            "description": description,
            "credentials": {"roleArn": role_arn, "externalId": external_id.expose()},
        });
        let reply = self.call(op, Method::Post, &path, &[], Some(&body)).await?;
        Ok(wire::credential(op.id, &reply.body)?)
    }

    async fn delete_credential(&self, id: &str) -> Result<()> {
        let path = format!("/credentials/{}", path_segment(DELETE_CREDENTIAL.id, id)?);
        match self
            .call(DELETE_CREDENTIAL, Method::Delete, &path, &[], None)
            .await
        {
            Ok(_) | Err(Error::SoracomStatus(StatusError { status: 404, .. })) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn list_groups(&self, after: Option<&str>, limit: u32) -> Result<GroupPage> {
        let mut query = vec![("limit", limit.to_string())];
        if let Some(k) = after {
            query.push(("last_evaluated_key", k.to_string()));
        }
        let reply = self
            .call(LIST_GROUPS, Method::Get, "/groups", &query, None)
            .await?;
        let groups = wire::groups(&reply.body)?;
        let next = next_key(LIST_GROUPS.id, &reply.headers, after)?;
        Ok(GroupPage { groups, next })
    }

    async fn put_group_config(
        &self,
        group_id: &str,
        namespace: &str,
        key: &str,
        value: &Value,
    ) -> Result<Group> {
        let path = format!(
            "/groups/{}/configuration/{}",
            path_segment(PUT_CONFIG.id, group_id)?,
            path_segment(PUT_CONFIG.id, namespace)?
        );
        let body = json!([{"key": key, "value": value}]);
        let reply = self
            .call(PUT_CONFIG, Method::Put, &path, &[], Some(&body))
            .await?;
        Ok(wire::group(&reply.body)?)
    }

    async fn list_event_handlers(&self) -> Result<Vec<Value>> {
        let reply = self
            .call(LIST_HANDLERS, Method::Get, "/event_handlers", &[], None)
            .await?;
        Ok(wire::decode(LIST_HANDLERS.id, &reply.body)?)
    }

    async fn get_event_handler(&self, handler_id: &str) -> Result<Value> {
        let path = format!(
            "/event_handlers/{}",
            path_segment(GET_HANDLER.id, handler_id)?
        );
        let reply = self
            .call(GET_HANDLER, Method::Get, &path, &[], None)
            .await?;
        Ok(wire::one(
            GET_HANDLER.id,
            &reply.body,
            "handlerId",
            handler_id,
        )?)
    }

    async fn get_vpg(&self, vpg_id: &str) -> Result<Value> {
        let path = format!(
            "/virtual_private_gateways/{}",
            path_segment(GET_VPG.id, vpg_id)?
        );
        let reply = self.call(GET_VPG, Method::Get, &path, &[], None).await?;
        Ok(wire::one(GET_VPG.id, &reply.body, "vpgId", vpg_id)?)
    }

    async fn update_event_handler(&self, handler_id: &str, body: &Value) -> Result<()> {
        let path = format!(
            "/event_handlers/{}",
            path_segment(UPDATE_HANDLER.id, handler_id)?
        );
        self.call(UPDATE_HANDLER, Method::Put, &path, &[], Some(body))
            .await?;
        Ok(())
    }

    async fn list_vpgs(&self, after: Option<&str>, limit: u32) -> Result<VpgPage> {
        let mut query = vec![("limit", limit.to_string())];
        if let Some(k) = after {
            query.push(("last_evaluated_key", k.to_string()));
        }
        let reply = self
            .call(
                LIST_VPGS,
                Method::Get,
                "/virtual_private_gateways",
                &query,
                None,
            )
            .await?;
        let vpgs = wire::vpgs(&reply.body)?;
        let next = next_key(LIST_VPGS.id, &reply.headers, after)?;
        Ok(VpgPage { vpgs, next })
    }

    async fn set_inspection(&self, vpg_id: &str, inspection: &Value) -> Result<()> {
        let path = format!(
            "/virtual_private_gateways/{}/junction/set_inspection",
            path_segment(SET_INSPECTION.id, vpg_id)?
        );
        self.call(SET_INSPECTION, Method::Post, &path, &[], Some(inspection))
            .await?;
        Ok(())
    }

    async fn list_logs(
        &self,
        service: &str,
        from: time::OffsetDateTime,
        after: Option<&str>,
        limit: u32,
    ) -> Result<super::LogPage> {
        let from_ms = from.unix_timestamp_nanos() / 1_000_000;
        let mut query = vec![
            ("service", service.to_string()),
            ("from", from_ms.to_string()),
            ("limit", limit.to_string()),
        ];
        if let Some(k) = after {
            query.push(("last_evaluated_key", k.to_string()));
        }
        let reply = self
            .call(GET_LOGS, Method::Get, "/logs", &query, None)
            .await?;
        let entries = wire::log_entries(&reply.body)?;
        let next = next_key(GET_LOGS.id, &reply.headers, after)?;
        Ok(super::LogPage { entries, next })
    }
}

/// The next page's key of a paged listing, from either header SORACOM sends for it:
/// `x-soracom-next-key: <key>`, or `Link: </v1/groups?…&last_evaluated_key=<key>>; rel=next`.
/// SORACOM's paging guide (users.soracom.io/ja-jp/tools/api/paging/) shows both on one
/// answer and warns that some APIs send only one of the two, either leading to the same
/// page. An empty `x-soracom-next-key` with no `Link` rel=next is a last page, as SORACOM's
/// own clients read it (soracom-cli stops on an empty value; soracom-labs' Python client on
/// `if not next_key`). A `Link` rel=next without a usable key, two headers that name
/// different pages (an empty `x-soracom-next-key` beside a `Link` to a next page among
/// them), or a key equal to the request's is an error ([`PagingProblem`]), never a silent
/// last page. Only the key is taken from a `Link`: its URL is never requested (it could point
/// anywhere, and a request carries the API key and token).
fn next_key(op: &'static str, headers: &Headers, after: Option<&str>) -> Result<Option<String>> {
    let broken = |problem| Error::SoracomPaging { op, problem };
    let mut keys = Vec::new();
    let mut says_last = false;
    for v in headers.all("x-soracom-next-key") {
        let key = v.trim().to_string();
        if key.is_empty() {
            says_last = true;
        } else {
            keys.push(key);
        }
    }
    for v in headers.all("link") {
        for url in next_links(v) {
            keys.push(link_key(url).ok_or_else(|| broken(PagingProblem::LinkWithoutKey))?);
        }
    }
    let Some(next) = keys.first() else {
        return Ok(None);
    };
    if says_last || keys.iter().any(|k| k != next) {
        return Err(broken(PagingProblem::HeadersDisagree));
    }
    if after == Some(next.as_str()) {
        return Err(broken(PagingProblem::KeyRepeated));
    }
    Ok(Some(next.clone()))
}

/// The URLs of a `Link` header value (RFC 8288: `<url>; param; …, <url>; …`) whose `rel`
/// names `next`; `rel` may be quoted and list several relation types.
fn next_links(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = value;
    // Each turn consumes at least the `<…>` it found, so this ends.
    while let Some(open) = rest.find('<') {
        let Some(len) = rest[open..].find('>') else {
            break;
        };
        let url = &rest[open + 1..open + len];
        rest = &rest[open + len + 1..];
        // The parameters run to the next comma outside a quoted string.
        let mut quoted = false;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                if c == '"' {
                    quoted = !quoted;
                }
                c == ',' && !quoted
            })
            .map_or(rest.len(), |(i, _)| i);
        let is_next = split_unquoted(&rest[..end], ';').into_iter().any(|param| {
            param.split_once('=').is_some_and(|(name, value)| {
                name.trim().eq_ignore_ascii_case("rel")
                    && value
                        .trim()
                        .trim_matches('"')
                        .split_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
            })
        });
        if is_next {
            out.push(url);
        }
        rest = &rest[end..];
    }
    out
}

/// `s` split at each `sep` outside a quoted string.
fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut from = 0;
    for (i, c) in s.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&s[from..i]);
            from = i + c.len_utf8();
        }
    }
    parts.push(&s[from..]);
    parts
}

/// The non-empty `last_evaluated_key` of a `Link` URL, absolute or relative, decoded.
fn link_key(url: &str) -> Option<String> {
    let base = reqwest::Url::parse("http://link.invalid/").ok()?;
    let url = base.join(url.trim()).ok()?;
    url.query_pairs()
        .find(|(name, _)| name == "last_evaluated_key")
        .map(|(_, value)| value.into_owned())
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_would_change_the_path_are_refused() {
        for bad in ["", "a/b", "..", "a?b", "a%2f"] {
            assert!(path_segment("x", bad).is_err(), "{bad}");
        }
        assert!(path_segment("x", "aws-x-261128-2").is_ok());
    }

    fn next(pairs: &[(&'static str, &'static str)], after: Option<&str>) -> Result<Option<String>> {
        let h = Headers::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        next_key("listGroups", &h, after)
    }

    fn problem(r: Result<Option<String>>) -> Option<PagingProblem> {
        match r {
            Err(Error::SoracomPaging { problem, .. }) => Some(problem),
            _ => None,
        }
    }

    #[test]
    fn the_next_page_comes_from_either_header() {
        assert_eq!(next(&[], None).ok(), Some(None));
        assert_eq!(
            next(&[("x-soracom-next-key", " g-3 ")], None).ok(),
            Some(Some("g-3".into()))
        );
        // SORACOM's paging guide shows both, relative, unquoted rel.
        let both = [
            (
                "link",
                "</v1/sims?last_evaluated_key=1234567890123456780>; rel=next",
            ),
            ("x-soracom-next-key", "1234567890123456780"),
        ];
        assert_eq!(
            next(&both, None).ok(),
            Some(Some("1234567890123456780".into()))
        );
        // Link alone: absolute, quoted rel with several types, among other links, encoded.
        let link = [(
            "link",
            "<https://api.soracom.io/v1/groups?limit=2>; rel=\"prev\", \
             <https://api.soracom.io/v1/groups?limit=2&last_evaluated_key=k%2F1+x>; title=\"a, b; c\"; REL=\"last next\"",
        )];
        assert_eq!(next(&link, Some("k0")).ok(), Some(Some("k/1 x".into())));
        // Other relations only: no next page.
        let prev = [("link", "</v1/groups?last_evaluated_key=a>; rel=prev")];
        assert_eq!(next(&prev, None).ok(), Some(None));
    }

    /// An empty `x-soracom-next-key` alone ends the listing, as SORACOM's clients read it;
    /// beside a `Link` to a next page the two disagree.
    #[test]
    fn an_empty_next_key_alone_is_a_last_page() {
        for empty in ["", "  "] {
            assert_eq!(
                next(&[("x-soracom-next-key", empty)], Some("k")).ok(),
                Some(None)
            );
        }
        let prev = [
            ("x-soracom-next-key", ""),
            ("link", "</v1/groups?last_evaluated_key=a>; rel=prev"),
        ];
        assert_eq!(next(&prev, None).ok(), Some(None));
        let more = [
            ("x-soracom-next-key", ""),
            ("link", "</v1/groups?last_evaluated_key=b>; rel=next"),
        ];
        assert_eq!(
            problem(next(&more, None)),
            Some(PagingProblem::HeadersDisagree)
        );
    }

    #[test]
    fn more_pages_without_a_usable_key_is_an_error() {
        for link in [
            "</v1/groups?limit=2>; rel=next",
            "</v1/groups?last_evaluated_key=>; rel=\"next\"",
            "<http://[::1>; rel=next",
        ] {
            let h = [("link", link)];
            assert_eq!(
                problem(next(&h, None)),
                Some(PagingProblem::LinkWithoutKey),
                "{link}"
            );
        }
        let disagree = [
            ("x-soracom-next-key", "a"),
            ("link", "</v1/groups?last_evaluated_key=b>; rel=next"),
        ];
        assert_eq!(
            problem(next(&disagree, None)),
            Some(PagingProblem::HeadersDisagree)
        );
        assert_eq!(
            problem(next(&[("x-soracom-next-key", "a")], Some("a"))),
            Some(PagingProblem::KeyRepeated)
        );
        let e = next(&disagree, None).expect_err("broken");
        assert!(!e.is_retryable());
        assert_eq!(
            e.to_string(),
            "SORACOM listGroups: paging broken: x-soracom-next-key and Link rel=next name \
             different pages"
        );
    }
}
