//! The emulated operations, as synchronous functions on `State`.
//!
//! Each handler validates its input, changes state and returns a `Reply` or an `ApiError`.
//! `handle` runs the steps every routed call shares (token check, rate limit, dispatch) so
//! the async server only deals with timing, faults and the wire. Shapes follow the
//! official spec (CredentialsModel, Group, EventHandlerModel, AuthResponse, LogEntry,
//! VirtualPrivateGateway).

use std::collections::HashMap;
use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::faults::{referenced_ids, WriteTo};
use crate::logs::{LogFilter, LogResourceType, LogService};
use crate::paging::{self, NextPage, PagingMode};
use crate::reply::{codes, ApiError, Reply};
use crate::routes::{percent_decode, Route};
use crate::state::{merge_configuration, page, State, StoredCredential};

/// Upper bound of `tokenTimeoutSeconds` in the spec.
const MAX_TOKEN_TIMEOUT_SECONDS: i64 = 172_800;

/// The `type` values of the spec's `CredentialsModel`.
const CREDENTIAL_TYPES: &[&str] = &[
    "api-token-credentials",
    "aws-credentials",
    "aws-iam-role-credentials",
    "azure-credentials",
    "azureIoT-credentials",
    "esrij-credentials",
    "google-service-account-json",
    "googleIoT-credentials",
    "infoteria-platio-credentials",
    "kii-thingif-credentials",
    "landlog-credentials",
    "mmcloud-credentials",
    "motionboard-credentials",
    "optim-cloud-IoT-OS-credentials",
    "private-key-pem",
    "psk",
    "pubnub-credentials",
    "sensorcorpus-credentials",
    "username-password-credentials",
    "x509",
];

/// The group configuration namespaces the spec allows in `PUT …/configuration/{namespace}`.
pub(crate) const NAMESPACES: &[&str] = &[
    "SoracomAir",
    "SoracomBeam",
    "SoracomEndorse",
    "SoracomFlux",
    "SoracomFunk",
    "SoracomFunnel",
    "SoracomHarvest",
    "SoracomHarvestFiles",
    "SoracomKrypton",
    "SoracomOrbit",
    "UnifiedEndpoint",
];

/// One routed call's input.
pub(crate) struct Call<'a> {
    /// Where it was routed.
    pub route: &'a Route,
    /// Request headers, lowercase names.
    pub headers: &'a [(String, String)],
    /// Raw query string.
    pub query: Option<&'a str>,
    /// Raw body.
    pub body: &'a [u8],
    /// Monotonic time of the call, for rate limiting.
    pub now: Instant,
}

/// Handles a routed call: authentication, rate limit, then the operation itself.
pub(crate) fn handle(st: &mut State, call: &Call<'_>) -> Reply {
    let envelope = st.envelope;
    if call.route.operation == "auth" {
        return auth(st, call.body).unwrap_or_else(|e| e.into_reply(envelope));
    }
    if let Err(e) = check_token(st, call.headers) {
        return e.into_reply(envelope);
    }
    let verdict = st.rate.check(call.route.template, call.now);
    let mut reply = match verdict {
        Some(v) if !v.allowed => {
            ApiError::new(429, codes::RATE_LIMITED, "rate limit exceeded").into_reply(envelope)
        }
        _ => dispatch(st, call).unwrap_or_else(|e| e.into_reply(envelope)),
    };
    if let Some(v) = verdict {
        reply.headers.extend(v.headers());
    }
    reply
}

fn dispatch(st: &mut State, call: &Call<'_>) -> Result<Reply, ApiError> {
    let p = &call.route.params;
    let param = |i: usize| p.get(i).map(String::as_str).unwrap_or_default();
    match call.route.operation {
        "listCredentials" => Ok(list_credentials(st)),
        "createCredential" => create_credential(st, param(0), call.body),
        "updateCredential" => update_credential(st, param(0), call.body),
        "deleteCredential" => delete_credential(st, param(0)),
        "listGroups" => list_groups(st, call),
        "getGroup" => get_group(st, param(0)),
        "putConfigurationParameters" => put_configuration(st, param(0), param(1), call.body),
        "getLogs" => get_logs(st, call),
        "listVirtualPrivateGateways" => list_vpgs(st, call),
        "getVirtualPrivateGateway" => st
            .vpgs
            .get(param(0))
            .map(|v| Reply::json(200, v.model(&st.operator_id)))
            .ok_or_else(|| vpg_not_found(param(0))),
        "setInspectionConfiguration" => set_inspection(st, param(0), call.body),
        "listEventHandlers" => Ok(Reply::json(
            200,
            Value::Array(st.event_handlers.values().cloned().collect()),
        )),
        "getEventHandler" => st
            .event_handlers
            .get(param(0))
            .map(|h| Reply::json(200, h.clone()))
            .ok_or_else(|| event_handler_not_found(404)),
        "updateEventHandler" => update_event_handler(st, param(0), call.body),
        "listOperatorAuthKeys" => list_auth_keys(st, param(0), None),
        "generateOperatorAuthKey" => generate_auth_key(st, param(0), None),
        "deleteOperatorAuthKey" => delete_auth_key(st, param(0), None, param(1)),
        "listUserAuthKeys" => list_auth_keys(st, param(0), Some(param(1))),
        "generateUserAuthKey" => generate_auth_key(st, param(0), Some(param(1))),
        "deleteUserAuthKey" => delete_auth_key(st, param(0), Some(param(1)), param(2)),
        other => Err(ApiError::new(
            404,
            codes::NO_SUCH_ROUTE,
            format!("operation {other} is not emulated"),
        )),
    }
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match parse_json(body)? {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::bad_request("the body must be a JSON object")),
    }
}

fn auth(st: &mut State, body: &[u8]) -> Result<Reply, ApiError> {
    let req = parse_object(body)?;
    let ttl_ms = match req.get("tokenTimeoutSeconds") {
        None | Some(Value::Null) => i64::try_from(st.token_ttl.as_millis()).unwrap_or(i64::MAX),
        Some(v) => v
            .as_i64()
            .filter(|s| (0..=MAX_TOKEN_TIMEOUT_SECONDS).contains(s))
            .map(|s| s * 1000)
            .ok_or_else(|| {
                ApiError::bad_request("tokenTimeoutSeconds must be an integer from 0 to 172800")
            })?,
    };
    let str_field = |k: &str| req.get(k).and_then(Value::as_str);
    let user_name = match (str_field("authKeyId"), str_field("authKey")) {
        (Some(id), Some(secret)) => st
            .auth_keys
            .get(id)
            .filter(|k| k.secret == secret)
            .map(|k| k.user_name.clone()),
        _ => None,
    }
    .ok_or_else(|| ApiError::new(401, codes::AUTH_FAILED, "Authentication failed."))?;
    let (api_key, token) = st.issue_token(ttl_ms);
    let mut out = json!({"apiKey": api_key, "token": token, "operatorId": st.operator_id});
    if let Some(user) = user_name {
        out["userName"] = Value::String(user);
    }
    Ok(Reply::json(200, out))
}

/// The 401 for an expired token, also used by the `ExpiredToken` fault.
pub(crate) fn token_expired() -> ApiError {
    ApiError::new(401, codes::TOKEN_EXPIRED, "token expired")
}

fn check_token(st: &State, headers: &[(String, String)]) -> Result<(), ApiError> {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (Some(api_key), Some(token)) = (header("x-soracom-api-key"), header("x-soracom-token"))
    else {
        return Err(ApiError::new(
            401,
            codes::MISSING_CREDENTIALS,
            "X-Soracom-API-Key and X-Soracom-Token are required",
        ));
    };
    let entry = st
        .tokens
        .get(api_key)
        .filter(|t| t.token == token)
        .ok_or_else(|| ApiError::new(401, codes::INVALID_TOKEN, "invalid API key or token"))?;
    if entry.revoked || st.now_ms() >= entry.expires_ms {
        return Err(token_expired());
    }
    Ok(())
}

fn list_credentials(st: &State) -> Reply {
    let show_key_id = !st.omit_access_key_id;
    Reply::json(
        200,
        Value::Array(
            st.credentials
                .values()
                .map(|c| c.model(show_key_id))
                .collect(),
        ),
    )
}

/// `type`, `description`, `credentials` of a `CreateAndUpdateCredentialsModel`.
fn credential_body(body: &[u8]) -> Result<(String, String, Value), ApiError> {
    let mut req = parse_object(body)?;
    let kind = match req.get("type").and_then(Value::as_str) {
        Some(k) if CREDENTIAL_TYPES.contains(&k) => k.to_owned(),
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "unknown credentials type {k}"
            )))
        }
        None => return Err(ApiError::bad_request("type is required")),
    };
    let description = match req.remove("description") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s,
        Some(_) => return Err(ApiError::bad_request("description must be a string")),
    };
    match req.remove("credentials") {
        Some(c @ Value::Object(_)) => Ok((kind, description, c)),
        _ => Err(ApiError::bad_request("credentials must be an object")),
    }
}

/// 400 if `value`, written to `to`, references a role set there and a [`RoleRefusal`]
/// covers `to` (`crate::faults::RoleRefusal`).
fn refuse_role_sets(st: &State, to: WriteTo<'_>, value: &Value) -> Result<(), ApiError> {
    if !st.role_refusals.iter().any(|r| r.covers(to)) {
        return Ok(());
    }
    let role_set = referenced_ids(value).into_iter().find(|id| {
        st.credentials
            .get(*id)
            .is_some_and(|c| c.kind == "aws-iam-role-credentials")
    });
    match role_set {
        Some(id) => Err(ApiError::new(
            400,
            codes::ROLE_CREDENTIALS_REFUSED,
            format!("credentials {id} of type aws-iam-role-credentials cannot be used here"),
        )),
        None => Ok(()),
    }
}

fn credential_not_found(id: &str) -> ApiError {
    ApiError::new(
        404,
        codes::CREDENTIAL_NOT_FOUND,
        format!("credentials {id} not found"),
    )
}

fn create_credential(st: &mut State, id: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let (kind, description, credentials) = credential_body(body)?;
    if st.credentials.contains_key(id) {
        return Err(ApiError::new(
            400,
            codes::CREDENTIAL_EXISTS,
            format!("credentials {id} already exist"),
        ));
    }
    let now = st.now_ms();
    let stored = StoredCredential {
        id: id.to_owned(),
        kind,
        description,
        credentials,
        create_ms: now,
        update_ms: now,
        last_used_ms: 0,
    };
    let model = stored.model(!st.omit_access_key_id);
    st.credentials.insert(id.to_owned(), stored);
    Ok(Reply::json(201, model))
}

fn update_credential(st: &mut State, id: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let now = st.now_ms();
    let show_key_id = !st.omit_access_key_id;
    let stored = st
        .credentials
        .get_mut(id)
        .ok_or_else(|| credential_not_found(id))?;
    let (kind, description, credentials) = credential_body(body)?;
    stored.kind = kind;
    stored.description = description;
    stored.credentials = credentials;
    stored.update_ms = now;
    Ok(Reply::json(200, stored.model(show_key_id)))
}

fn delete_credential(st: &mut State, id: &str) -> Result<Reply, ApiError> {
    st.credentials
        .remove(id)
        .map(|_| Reply::empty(204))
        .ok_or_else(|| credential_not_found(id))
}

/// The operator in the path must be the emulated one.
fn check_operator(st: &State, operator_id: &str) -> Result<(), ApiError> {
    if operator_id == st.operator_id {
        Ok(())
    } else {
        Err(ApiError::new(
            400,
            codes::BAD_REQUEST,
            format!("invalid operator id {operator_id}"),
        ))
    }
}

/// AuthKeyResponse items of the root user (`user` `None`) or a SAM user, by id.
fn list_auth_keys(st: &State, operator_id: &str, user: Option<&str>) -> Result<Reply, ApiError> {
    check_operator(st, operator_id)?;
    let mut keys: Vec<(&String, &crate::state::AuthKey)> = st
        .auth_keys
        .iter()
        .filter(|(_, k)| k.user_name.as_deref() == user)
        .collect();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    Ok(Reply::json(
        200,
        Value::Array(
            keys.into_iter()
                .map(|(id, k)| json!({"authKeyId": id, "createDateTime": k.created_ms / 1000}))
                .collect(),
        ),
    ))
}

/// A new AuthKey; 201 for the operator (root) path, 200 for a SAM user, as in the spec.
fn generate_auth_key(
    st: &mut State,
    operator_id: &str,
    user: Option<&str>,
) -> Result<Reply, ApiError> {
    check_operator(st, operator_id)?;
    let id = format!("keyId-{}", st.random_hex());
    let secret = format!("secret-{}{}", st.random_hex(), st.random_hex());
    let created_ms = st.now_ms();
    st.issued_auth_keys.push(secret.clone());
    st.auth_keys.insert(
        id.clone(),
        crate::state::AuthKey {
            secret: secret.clone(),
            user_name: user.map(str::to_owned),
            created_ms,
        },
    );
    let status = if user.is_some() { 200 } else { 201 };
    Ok(Reply::json(
        status,
        json!({"authKeyId": id, "authKey": secret}),
    ))
}

fn delete_auth_key(
    st: &mut State,
    operator_id: &str,
    user: Option<&str>,
    key_id: &str,
) -> Result<Reply, ApiError> {
    check_operator(st, operator_id)?;
    match st.auth_keys.get(key_id) {
        Some(k) if k.user_name.as_deref() == user => {
            st.auth_keys.remove(key_id);
            Ok(Reply::empty(204))
        }
        _ => Err(ApiError::new(
            404,
            codes::AUTH_KEY_NOT_FOUND,
            format!("no such AuthKey {key_id}"),
        )),
    }
}

/// Decoded query parameters; for a repeated name the last value wins.
fn query_params(query: Option<&str>) -> Result<HashMap<String, String>, ApiError> {
    let mut out = HashMap::new();
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_decode(&s.replace('+', " "))
                .ok_or_else(|| ApiError::bad_request("malformed query string"))
        };
        out.insert(decode(k)?, decode(v)?);
    }
    Ok(out)
}

/// A `tag_name` / `tag_value` / `tag_value_match_mode` filter: name, value, prefix match.
type TagFilter<'a> = (&'a str, &'a str, bool);

/// The tag filter of a list query, if it has one.
fn tag_filter(q: &HashMap<String, String>) -> Option<TagFilter<'_>> {
    q.get("tag_name").map(|name| {
        let value = q.get("tag_value").map(String::as_str).unwrap_or_default();
        let prefix = q.get("tag_value_match_mode").map(String::as_str) == Some("prefix");
        (name.as_str(), value, prefix)
    })
}

/// Whether `tags` pass the filter (no filter passes everything).
fn tags_match(tags: &Map<String, Value>, filter: Option<TagFilter<'_>>) -> bool {
    filter.is_none_or(|(name, value, prefix)| {
        tags.get(name).and_then(Value::as_str).is_some_and(|v| {
            if prefix {
                v.starts_with(value)
            } else {
                v == value
            }
        })
    })
}

/// The page size a list query asks for, within the emulator's page size and `limit` maximum.
fn list_page_size(st: &State, q: &HashMap<String, String>) -> Result<usize, ApiError> {
    paging::page_size(
        q.get("limit").map(String::as_str),
        st.page_size,
        st.max_limit,
    )
}

/// One page of a list, with the headers leading to the next page (in the emulator's paging
/// mode, `documented` being what the spec documents for this list) when more remain, and
/// those the mode gives a last page otherwise.
fn page_reply(
    st: &State,
    call: &Call<'_>,
    documented: PagingMode,
    items: Vec<Value>,
    next: Option<String>,
) -> Reply {
    let mut reply = Reply::json(200, Value::Array(items));
    if let Some(key) = next {
        let host = call
            .headers
            .iter()
            .find(|(k, _)| k == "host")
            .map(|(_, v)| v.as_str());
        reply.headers.extend(paging::next_page_headers(
            st.paging,
            documented,
            &NextPage {
                host,
                // A list's route has no path parameters: its template is its path.
                path: call.route.template,
                query: call.query,
                key: &key,
            },
        ));
    } else {
        reply.headers.extend(paging::last_page_headers(st.paging));
    }
    reply
}

fn list_groups(st: &State, call: &Call<'_>) -> Result<Reply, ApiError> {
    let q = query_params(call.query)?;
    let size = list_page_size(st, &q)?;
    let tag = tag_filter(&q);
    let matching = st.groups.values().filter(|g| tags_match(&g.tags, tag));
    let (ids, next) = page(
        matching.map(|g| &g.id),
        q.get("last_evaluated_key").map(String::as_str),
        size,
    );
    let items = ids
        .iter()
        .filter_map(|id| st.groups.get(id.as_str()))
        .map(|g| g.model(&st.operator_id))
        .collect();
    // listGroups' x-soracom-cli-pagination names x-soracom-next-key.
    Ok(page_reply(st, call, PagingMode::NextKey, items, next))
}

/// An optional query value of one of the spec's enums; 400 when it is not one.
fn enum_param<T>(
    q: &HashMap<String, String>,
    name: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<Option<T>, ApiError> {
    q.get(name)
        .map(|v| parse(v).ok_or_else(|| ApiError::bad_request(format!("invalid {name} {v}"))))
        .transpose()
}

/// An optional integer query value; 400 when it is not one.
fn int_param(q: &HashMap<String, String>, name: &str) -> Result<Option<i64>, ApiError> {
    q.get(name)
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("{name} must be an integer")))
        })
        .transpose()
}

fn get_logs(st: &State, call: &Call<'_>) -> Result<Reply, ApiError> {
    let q = query_params(call.query)?;
    let size = list_page_size(st, &q)?;
    let filter = LogFilter {
        service: enum_param(&q, "service", LogService::parse)?,
        resource_type: enum_param(&q, "resource_type", LogResourceType::parse)?,
        resource_id: q.get("resource_id").cloned(),
        from: int_param(&q, "from")?,
        to: int_param(&q, "to")?,
    };
    let matching = st.logs.iter().filter(|(_, e)| filter.matches(e));
    let (keys, next) = page(
        matching.map(|(k, _)| k),
        q.get("last_evaluated_key").map(String::as_str),
        size,
    );
    let items = keys
        .iter()
        .filter_map(|k| st.logs.get(k.as_str()))
        .map(|e| e.model(&st.operator_id))
        .collect();
    Ok(page_reply(st, call, PagingMode::Both, items, next))
}

fn group_not_found(id: &str) -> ApiError {
    ApiError::new(404, codes::GROUP_NOT_FOUND, format!("group {id} not found"))
}

fn get_group(st: &State, id: &str) -> Result<Reply, ApiError> {
    st.groups
        .get(id)
        .map(|g| Reply::json(200, g.model(&st.operator_id)))
        .ok_or_else(|| group_not_found(id))
}

fn put_configuration(
    st: &mut State,
    id: &str,
    namespace: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    if !NAMESPACES.contains(&namespace) {
        return Err(ApiError::new(
            400,
            codes::BAD_NAMESPACE,
            format!("unknown namespace {namespace}"),
        ));
    }
    if !st.groups.contains_key(id) {
        return Err(group_not_found(id));
    }
    let Value::Array(items) = parse_json(body)? else {
        return Err(ApiError::bad_request(
            "the body must be an array of {key, value}",
        ));
    };
    let pairs = items
        .into_iter()
        .map(|item| match item {
            Value::Object(mut m) => match (m.remove("key"), m.remove("value")) {
                (Some(Value::String(k)), Some(v)) => Ok((k, v)),
                _ => Err(ApiError::bad_request(
                    "each item needs a string key and a value",
                )),
            },
            _ => Err(ApiError::bad_request("each item must be an object")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (key, value) in &pairs {
        // The pair's key may itself be the reference (`credentialsId`).
        let written = Value::Object(Map::from_iter([(key.clone(), value.clone())]));
        refuse_role_sets(st, WriteTo::Group { id, namespace }, &written)?;
    }
    let now = st.now_ms();
    let operator_id = st.operator_id.clone();
    let group = st.groups.get_mut(id).ok_or_else(|| group_not_found(id))?;
    merge_configuration(&mut group.configuration, namespace, pairs);
    group.modified_ms = now;
    Ok(Reply::json(200, group.model(&operator_id)))
}

fn vpg_not_found(id: &str) -> ApiError {
    ApiError::new(
        404,
        codes::VPG_NOT_FOUND,
        format!("No such VPG found: {id}"),
    )
}

fn list_vpgs(st: &State, call: &Call<'_>) -> Result<Reply, ApiError> {
    let q = query_params(call.query)?;
    let size = list_page_size(st, &q)?;
    let tag = tag_filter(&q);
    let matching = st.vpgs.values().filter(|v| tags_match(&v.tags, tag));
    let (ids, next) = page(
        matching.map(|v| &v.id),
        q.get("last_evaluated_key").map(String::as_str),
        size,
    );
    let items = ids
        .iter()
        .filter_map(|id| st.vpgs.get(id.as_str()))
        .map(|v| v.model(&st.operator_id))
        .collect();
    // listVirtualPrivateGateways' x-soracom-cli-pagination names x-soracom-next-key.
    Ok(page_reply(st, call, PagingMode::NextKey, items, next))
}

/// Checks a `JunctionInspectionConfiguration`: `enabled` a boolean, `report` a
/// `FunnelConfiguration` object whose `credentialsId`, if any, is a string.
fn inspection_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let req = parse_object(body)?;
    if req.get("enabled").is_some_and(|v| !v.is_boolean()) {
        return Err(ApiError::bad_request("enabled must be a boolean"));
    }
    match req.get("report") {
        None => Ok(req),
        Some(Value::Object(report))
            if report.get("credentialsId").is_some_and(|v| !v.is_string()) =>
        {
            Err(ApiError::bad_request(
                "report.credentialsId must be a string",
            ))
        }
        Some(Value::Object(_)) => Ok(req),
        Some(_) => Err(ApiError::bad_request("report must be an object")),
    }
}

/// Sets (replaces) a VPG's inspection configuration with the body as sent.
fn set_inspection(st: &mut State, id: &str, body: &[u8]) -> Result<Reply, ApiError> {
    if !st.vpgs.contains_key(id) {
        return Err(vpg_not_found(id));
    }
    let inspection = inspection_body(body)?;
    refuse_role_sets(st, WriteTo::Vpg(id), &Value::Object(inspection.clone()))?;
    let now = st.now_ms();
    let vpg = st.vpgs.get_mut(id).ok_or_else(|| vpg_not_found(id))?;
    vpg.inspection = Some(inspection);
    vpg.modified_ms = now;
    // The spec documents 200 "Configuration added/updated" without a body.
    Ok(Reply::empty(200))
}

/// The spec gives 404 for an unknown handler on GET and 400 ("Invalid event handler ID")
/// on PUT.
fn event_handler_not_found(status: u16) -> ApiError {
    ApiError::new(
        status,
        codes::EVENT_HANDLER_NOT_FOUND,
        "Invalid event handler ID.",
    )
}

fn update_event_handler(st: &mut State, id: &str, body: &[u8]) -> Result<Reply, ApiError> {
    if !st.event_handlers.contains_key(id) {
        return Err(event_handler_not_found(400));
    }
    let mut req = parse_object(body)?;
    // The stored handler must stay a valid EventHandlerModel, which requires these.
    for field in ["name", "status", "ruleConfig", "actionConfigList"] {
        if !req.contains_key(field) {
            return Err(ApiError::bad_request(format!("{field} is required")));
        }
    }
    if !matches!(
        req.get("status").and_then(Value::as_str),
        Some("active" | "inactive")
    ) {
        return Err(ApiError::bad_request("status must be active or inactive"));
    }
    if !req.get("actionConfigList").is_some_and(Value::is_array) {
        return Err(ApiError::bad_request("actionConfigList must be an array"));
    }
    refuse_role_sets(st, WriteTo::EventHandler(id), &Value::Object(req.clone()))?;
    req.insert("handlerId".into(), Value::String(id.to_owned()));
    st.event_handlers.insert(id.to_owned(), Value::Object(req));
    // The spec documents 200 "OK." without a body for this operation.
    Ok(Reply::empty(200))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        let q = query_params(Some("limit=2&last_evaluated_key=a%2Fb&x=1+2&flag"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(q.get("limit").map(String::as_str), Some("2"));
        assert_eq!(q.get("last_evaluated_key").map(String::as_str), Some("a/b"));
        assert_eq!(q.get("x").map(String::as_str), Some("1 2"));
        assert_eq!(q.get("flag").map(String::as_str), Some(""));
        assert!(query_params(Some("a=%G0")).is_err());
    }

    #[test]
    fn inspection_body_validation() {
        let ok = br#"{"enabled":true,"report":{"credentialsId":"c","enabled":true}}"#;
        assert!(inspection_body(ok).is_ok());
        assert!(inspection_body(b"{}").is_ok());
        for bad in [
            &br#"[]"#[..],
            br#"{"enabled":"yes"}"#,
            br#"{"report":"c"}"#,
            br#"{"report":{"credentialsId":{"$credentialsId":"c"}}}"#,
            b"{",
        ] {
            assert!(inspection_body(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn credential_body_validation() {
        assert!(credential_body(br#"{"type":"aws-credentials","credentials":{}}"#).is_ok());
        assert!(credential_body(br#"[]"#).is_err());
        assert!(credential_body(br#"{"credentials":{}}"#).is_err());
        assert!(credential_body(br#"{"type":"aws-credentials"}"#).is_err());
        assert!(credential_body(br#"{"type":"nope","credentials":{}}"#).is_err());
        assert!(credential_body(b"not json").is_err());
    }
}
