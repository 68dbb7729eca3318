//! Checks SORACOM API requests against the official OpenAPI 3.0 spec.
//!
//! The emulator accepts what we taught it; this check holds the client to what SORACOM
//! documents instead: path and method, path and query parameters, the security headers, and
//! the JSON request body against its schema. Tests record the requests the client sent and
//! pass them to [`assert_conforms`].
//!
//! The spec is not part of the repository: it is read from `shared/` beside the workspace
//! (see [`Spec::load_default`]), parsed once per test process.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{Map, Value};

/// Environment variable naming the spec file, overriding the default location.
pub const SPEC_ENV: &str = "SORACOM_SPEC";

/// Base path of every operation (`servers[].url` ends with it).
const BASE_PATH: &str = "/v1";

/// Bound on nested `$ref`/composition while validating one value (the spec has cycles).
const MAX_DEPTH: u32 = 64;

/// Loading the spec failed.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// The file could not be read.
    #[error("cannot read the SORACOM spec {path}: {source}")]
    Read {
        /// The spec's path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not YAML/JSON, or not an OpenAPI document we understand.
    #[error("cannot parse the SORACOM spec {path}: {message}")]
    Parse {
        /// The spec's path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// One HTTP request to check. Header names are lowercase.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// HTTP method, any case.
    pub method: &'a str,
    /// Path including the `/v1` base, e.g. `/v1/groups`, still percent-encoded. A `?query`
    /// here is used when `query` is `None`.
    pub path: &'a str,
    /// Raw query string without `?`.
    pub query: Option<&'a str>,
    /// Headers as `(name, value)`; names are compared case-insensitively.
    pub headers: &'a [(String, String)],
    /// Body bytes; `None` or empty means no body.
    pub body: Option<&'a [u8]>,
}

/// An owned [`Request`], for recording requests and checking them later.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnedRequest {
    /// HTTP method.
    pub method: String,
    /// Path including `/v1`.
    pub path: String,
    /// Raw query string without `?`.
    pub query: Option<String>,
    /// Headers as `(lowercase name, value)`.
    pub headers: Vec<(String, String)>,
    /// Body bytes, empty if none.
    pub body: Vec<u8>,
}

impl OwnedRequest {
    /// Borrows this as a [`Request`].
    pub fn as_request(&self) -> Request<'_> {
        Request {
            method: &self.method,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
            body: Some(&self.body),
        }
    }
}

/// A request the spec does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The request's method (uppercase).
    pub method: String,
    /// The request's path, as given.
    pub path: String,
    /// Every problem found, `; `-separated.
    pub reason: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.method, self.path, self.reason)
    }
}

impl std::error::Error for Violation {}

/// What [`assert_conforms`] checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContractReport {
    /// Number of requests checked.
    pub checked: usize,
    /// Requests per operationId.
    pub by_operation: BTreeMap<String, usize>,
}

#[derive(Debug)]
enum Segment {
    Literal(String),
    Param(String),
}

#[derive(Debug)]
struct PathTemplate {
    template: String,
    segments: Vec<Segment>,
}

/// A parsed, indexed OpenAPI spec.
pub struct Spec {
    root: Value,
    /// Path templates grouped by their number of segments.
    by_len: BTreeMap<usize, Vec<PathTemplate>>,
    /// Security scheme name → where it is sent.
    schemes: BTreeMap<String, SchemeLocation>,
}

impl fmt::Debug for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spec")
            .field("paths", &self.path_count())
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SchemeLocation {
    Header(String),
    Query(String),
    Authorization,
    Unchecked,
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

impl Spec {
    /// Reads and indexes the spec at `path` (YAML or JSON).
    pub fn load(path: &Path) -> Result<Spec, ContractError> {
        let text = std::fs::read_to_string(path).map_err(|source| ContractError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Spec::parse(&text).map_err(|message| ContractError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses and indexes a spec from YAML or JSON text.
    pub fn parse(text: &str) -> Result<Spec, String> {
        let root: Value = serde_norway::from_str(text).map_err(|e| e.to_string())?;
        let paths = root
            .get("paths")
            .and_then(Value::as_object)
            .ok_or("no `paths` object")?;
        let mut by_len: BTreeMap<usize, Vec<PathTemplate>> = BTreeMap::new();
        for template in paths.keys() {
            let segments: Vec<Segment> = split_path(template)
                .map(
                    |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(name) => Segment::Param(name.to_string()),
                        None => Segment::Literal(s.to_string()),
                    },
                )
                .collect();
            by_len
                .entry(segments.len())
                .or_default()
                .push(PathTemplate {
                    template: template.clone(),
                    segments,
                });
        }
        let mut schemes = BTreeMap::new();
        if let Some(defs) = root
            .pointer("/components/securitySchemes")
            .and_then(Value::as_object)
        {
            for (name, def) in defs {
                let field = |k: &str| def.get(k).and_then(Value::as_str).unwrap_or_default();
                let location = match (field("type"), field("in")) {
                    ("apiKey", "header") => SchemeLocation::Header(field("name").to_lowercase()),
                    ("apiKey", "query") => SchemeLocation::Query(field("name").to_string()),
                    ("http", _) | ("oauth2", _) | ("openIdConnect", _) => {
                        SchemeLocation::Authorization
                    }
                    _ => SchemeLocation::Unchecked,
                };
                schemes.insert(name.clone(), location);
            }
        }
        Ok(Spec {
            root,
            by_len,
            schemes,
        })
    }

    /// Where the spec is: `$SORACOM_SPEC`, else `shared/soracom-api/soracom-api.en.yaml`
    /// beside the workspace (the folder that holds the repository).
    pub fn default_path() -> PathBuf {
        match std::env::var_os(SPEC_ENV) {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/soracom-api/soracom-api.en.yaml"),
        }
    }

    /// The spec at [`Spec::default_path`], loaded once per process.
    ///
    /// # Panics
    /// When the file is missing or unparsable: the contract check must never be skipped.
    pub fn load_default() -> &'static Spec {
        static SPEC: OnceLock<Spec> = OnceLock::new();
        SPEC.get_or_init(|| {
            let path = Spec::default_path();
            match Spec::load(&path) {
                Ok(spec) => spec,
                Err(e) => panic!(
                    "the SORACOM OpenAPI spec is required for the contract tests and could not \
                     be loaded from {} (set {SPEC_ENV} to override): {e}",
                    path.display()
                ),
            }
        })
    }

    /// Number of path templates in the spec.
    pub fn path_count(&self) -> usize {
        self.by_len.values().map(Vec::len).sum()
    }

    /// `Ok(operationId)` if the spec allows this request, else every problem found.
    pub fn check(&self, req: &Request<'_>) -> Result<String, Violation> {
        let method = req.method.to_ascii_uppercase();
        let violation = |reason: String| Violation {
            method: method.clone(),
            path: req.path.to_string(),
            reason,
        };
        let (path, query) = match (req.path.split_once('?'), req.query) {
            (Some((p, q)), None) => (p, Some(q)),
            (Some((p, _)), Some(q)) => (p, Some(q)),
            (None, q) => (req.path, q),
        };
        let Some(rest) = path.strip_prefix(BASE_PATH).filter(|r| r.starts_with('/')) else {
            return Err(violation(format!(
                "path does not start with the base path {BASE_PATH}/"
            )));
        };
        let (template, op) = self.route(&method, rest).map_err(violation)?;
        let op_id = op
            .get("operationId")
            .and_then(Value::as_str)
            .unwrap_or(&template.template)
            .to_string();

        let mut problems = Vec::new();
        let params = self.parameters(&template.template, op);
        self.check_path_params(template, rest, &params, &mut problems);
        self.check_query(query, &params, &mut problems);
        check_header_params(req.headers, &params, &mut problems);
        self.check_security(op, req.headers, query, &mut problems);
        self.check_body(op, req, &mut problems);
        if problems.is_empty() {
            Ok(op_id)
        } else {
            Err(violation(format!("[{op_id}] {}", problems.join("; "))))
        }
    }

    /// The best template for `rest` (path without `/v1`) that has `method`.
    fn route(&self, method: &str, rest: &str) -> Result<(&PathTemplate, &Value), String> {
        let segments: Vec<&str> = split_path(rest).collect();
        let candidates: Vec<&PathTemplate> = self
            .by_len
            .get(&segments.len())
            .into_iter()
            .flatten()
            .filter(|t| {
                t.segments.iter().zip(&segments).all(|(t, s)| match t {
                    Segment::Literal(l) => l == s,
                    Segment::Param(_) => !s.is_empty(),
                })
            })
            .collect();
        if candidates.is_empty() {
            return Err(format!("no path in the spec matches {rest}"));
        }
        let lower = method.to_ascii_lowercase();
        let op_of = |t: &PathTemplate| {
            self.root
                .get("paths")
                .and_then(|p| p.get(&t.template))
                .and_then(|p| p.get(&lower))
                .filter(|o| o.is_object())
        };
        // Literal segments win over parameters, the leftmost difference deciding.
        let literalness = |t: &PathTemplate| -> Vec<bool> {
            t.segments
                .iter()
                .map(|s| matches!(s, Segment::Literal(_)))
                .collect()
        };
        let best = candidates
            .iter()
            .filter_map(|t| op_of(t).map(|op| (*t, op)))
            .max_by_key(|(t, _)| literalness(t));
        match best {
            Some(found) => Ok(found),
            None => {
                let allowed: Vec<String> = candidates
                    .iter()
                    .map(|t| {
                        let methods: Vec<String> = METHODS
                            .iter()
                            .filter(|m| self.has_method(t, m))
                            .map(|m| m.to_ascii_uppercase())
                            .collect();
                        format!("{} allows {}", t.template, methods.join(", "))
                    })
                    .collect();
                Err(format!(
                    "method {method} is not defined for this path ({})",
                    allowed.join("; ")
                ))
            }
        }
    }

    fn has_method(&self, t: &PathTemplate, method: &str) -> bool {
        self.root
            .get("paths")
            .and_then(|p| p.get(&t.template))
            .and_then(|p| p.get(method))
            .is_some_and(Value::is_object)
    }

    /// Path-level and operation-level parameters, `$ref`s resolved; the operation's win.
    fn parameters<'s>(&'s self, template: &str, op: &'s Value) -> Vec<&'s Value> {
        let path_level = self
            .root
            .get("paths")
            .and_then(|p| p.get(template))
            .and_then(|p| p.get("parameters"))
            .and_then(Value::as_array);
        let op_level = op.get("parameters").and_then(Value::as_array);
        let mut out: Vec<&Value> = Vec::new();
        for p in op_level
            .into_iter()
            .flatten()
            .chain(path_level.into_iter().flatten())
        {
            let p = self.resolve(p, 0);
            let key = (p.get("name"), p.get("in"));
            if !out.iter().any(|q| (q.get("name"), q.get("in")) == key) {
                out.push(p);
            }
        }
        out
    }

    fn check_path_params(
        &self,
        template: &PathTemplate,
        rest: &str,
        params: &[&Value],
        problems: &mut Vec<String>,
    ) {
        for (seg, raw) in template.segments.iter().zip(split_path(rest)) {
            let Segment::Param(name) = seg else { continue };
            let value = percent_decode(raw, false);
            match find_param(params, "path", name) {
                None => problems.push(format!("path parameter `{name}` is not declared")),
                Some(def) => {
                    if let Err(e) = self.check_param_value(def, &value) {
                        problems.push(format!("path parameter `{name}`: {e}"));
                    }
                }
            }
        }
    }

    fn check_query(&self, query: Option<&str>, params: &[&Value], problems: &mut Vec<String>) {
        let mut given: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            given
                .entry(percent_decode(k, true))
                .or_default()
                .push(percent_decode(v, true));
        }
        for (name, values) in &given {
            let Some(def) = find_param(params, "query", name) else {
                let declared: Vec<&str> = params
                    .iter()
                    .filter(|p| p.get("in").and_then(Value::as_str) == Some("query"))
                    .filter_map(|p| p.get("name").and_then(Value::as_str))
                    .collect();
                problems.push(format!(
                    "query parameter `{name}` is not declared for this operation (declared: [{}])",
                    declared.join(", ")
                ));
                continue;
            };
            let schema = def.get("schema").map(|s| self.resolve(s, 0));
            let is_array =
                schema.and_then(|s| s.get("type")).and_then(Value::as_str) == Some("array");
            if !is_array && values.len() > 1 {
                problems.push(format!(
                    "query parameter `{name}` is given {} times",
                    values.len()
                ));
            }
            for v in values {
                let result = if is_array {
                    let items = schema.and_then(|s| s.get("items"));
                    items.map_or(Ok(()), |items| self.check_raw_value(items, v))
                } else {
                    self.check_param_value(def, v)
                };
                if let Err(e) = result {
                    problems.push(format!("query parameter `{name}`: {e}"));
                }
            }
        }
        for def in params {
            if def.get("in").and_then(Value::as_str) != Some("query") || !is_required(def) {
                continue;
            }
            if let Some(name) = def.get("name").and_then(Value::as_str) {
                if !given.contains_key(name) {
                    problems.push(format!("required query parameter `{name}` is missing"));
                }
            }
        }
    }

    fn check_security(
        &self,
        op: &Value,
        headers: &[(String, String)],
        query: Option<&str>,
        problems: &mut Vec<String>,
    ) {
        let requirements = op.get("security").or_else(|| self.root.get("security"));
        let Some(alternatives) = requirements.and_then(Value::as_array) else {
            return;
        };
        if alternatives.is_empty() {
            return;
        }
        let has_header = |name: &str| {
            headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case(name) && !v.is_empty())
        };
        let has_query = |name: &str| {
            query
                .unwrap_or_default()
                .split('&')
                .any(|p| percent_decode(p.split_once('=').map_or(p, |(k, _)| k), true) == name)
        };
        let mut missing_per_alternative = Vec::new();
        for alt in alternatives {
            let Some(schemes) = alt.as_object() else {
                continue;
            };
            let missing: Vec<String> = schemes
                .keys()
                .filter_map(|scheme| match self.schemes.get(scheme) {
                    Some(SchemeLocation::Header(h)) => {
                        (!has_header(h)).then(|| format!("header {h}"))
                    }
                    Some(SchemeLocation::Query(q)) => {
                        (!has_query(q)).then(|| format!("query parameter {q}"))
                    }
                    Some(SchemeLocation::Authorization) => {
                        (!has_header("authorization")).then(|| "header authorization".to_string())
                    }
                    Some(SchemeLocation::Unchecked) => None,
                    None => Some(format!("undefined security scheme {scheme}")),
                })
                .collect();
            if missing.is_empty() {
                return;
            }
            missing_per_alternative.push(missing.join(" and "));
        }
        problems.push(format!(
            "authentication missing: needs {}",
            missing_per_alternative.join(", or ")
        ));
    }

    fn check_body(&self, op: &Value, req: &Request<'_>, problems: &mut Vec<String>) {
        let body = req.body.filter(|b| !b.is_empty());
        let Some(request_body) = op.get("requestBody").map(|b| self.resolve(b, 0)) else {
            if body.is_some() {
                problems.push("this operation takes no request body, but one was sent".into());
            }
            return;
        };
        let Some(body) = body else {
            if request_body.get("required").and_then(Value::as_bool) == Some(true) {
                problems.push("request body is required but none was sent".into());
            }
            return;
        };
        let content = request_body.get("content").and_then(Value::as_object);
        let content_type = req
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| {
                v.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            });
        let json_media = content.and_then(|c| c.get("application/json"));
        let is_json_type = content_type
            .as_deref()
            .is_none_or(|ct| ct == "application/json" || ct.ends_with("+json"));
        match (json_media, is_json_type) {
            (Some(media), true) => match serde_json::from_slice::<Value>(body) {
                Err(e) => problems.push(format!("request body is not valid JSON: {e}")),
                Ok(value) => {
                    if let Some(schema) = media.get("schema") {
                        let mut errs = Vec::new();
                        self.validate(schema, &value, "", 0, &mut errs);
                        problems.extend(errs.into_iter().map(|e| format!("body{e}")));
                    }
                }
            },
            _ => {
                let accepted: Vec<&String> =
                    content.map(|c| c.keys().collect()).unwrap_or_default();
                let ok = match content_type.as_deref() {
                    None => true,
                    Some(ct) => accepted.iter().any(|a| *a == ct || *a == "*/*"),
                };
                if !ok {
                    problems.push(format!(
                        "content-type {} is not accepted (spec: {})",
                        content_type.unwrap_or_default(),
                        accepted
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
        }
    }

    /// Validates one path/query/header value against the parameter's schema.
    fn check_param_value(&self, def: &Value, raw: &str) -> Result<(), String> {
        match def.get("schema") {
            Some(schema) => self.check_raw_value(schema, raw),
            None => Ok(()),
        }
    }

    /// Coerces a raw string to the schema's type, then validates it.
    fn check_raw_value(&self, schema: &Value, raw: &str) -> Result<(), String> {
        let resolved = self.resolve(schema, 0);
        let ty = resolved.get("type").and_then(Value::as_str);
        let value = match ty {
            Some("integer") => match raw.parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) => return Err(format!("{raw:?} is not an integer")),
            },
            Some("number") => match raw
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
            {
                Some(n) => Value::Number(n),
                None => return Err(format!("{raw:?} is not a number")),
            },
            Some("boolean") => match raw {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(format!("{raw:?} is not a boolean (true or false)")),
            },
            _ => Value::String(raw.to_string()),
        };
        let mut errs = Vec::new();
        self.validate(resolved, &value, "", 0, &mut errs);
        if errs.is_empty() {
            Ok(())
        } else {
            // Pointers of a scalar are empty: drop the leading ": ".
            Err(errs
                .iter()
                .map(|e| e.trim_start_matches(": ").to_string())
                .collect::<Vec<_>>()
                .join(", "))
        }
    }

    /// Follows `$ref` chains (local `#/...` refs only), bounded.
    fn resolve<'s>(&'s self, mut v: &'s Value, depth: u32) -> &'s Value {
        for _ in depth..MAX_DEPTH {
            match v.get("$ref").and_then(Value::as_str) {
                Some(r) => match r.strip_prefix('#').and_then(|p| self.root.pointer(p)) {
                    Some(target) => v = target,
                    None => return v,
                },
                None => return v,
            }
        }
        v
    }

    /// Validates `value` at JSON pointer `ptr`; pushes `"<ptr>: <problem>"` per problem.
    fn validate(
        &self,
        schema: &Value,
        value: &Value,
        ptr: &str,
        depth: u32,
        errs: &mut Vec<String>,
    ) {
        if depth >= MAX_DEPTH {
            return;
        }
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            match r.strip_prefix('#').and_then(|p| self.root.pointer(p)) {
                Some(target) => self.validate(target, value, ptr, depth + 1, errs),
                None => errs.push(format!("{ptr}: spec has an unresolvable $ref {r}")),
            }
            return;
        }
        let Some(schema) = schema.as_object() else {
            return;
        };
        let ty = schema.get("type").and_then(Value::as_str);
        if value.is_null() {
            if schema.get("nullable").and_then(Value::as_bool) == Some(true) {
                return;
            }
            if let Some(ty) = ty {
                errs.push(format!("{ptr}: expected {ty}, got null"));
                return;
            }
        }
        if let Some(ty) = ty {
            let fits = match ty {
                "object" => value.is_object(),
                "array" => value.is_array(),
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                "boolean" => value.is_boolean(),
                _ => true,
            };
            if !fits {
                errs.push(format!("{ptr}: expected {ty}, got {}", describe(value)));
                return;
            }
        }
        if let Some(members) = schema.get("enum").and_then(Value::as_array) {
            if !members.iter().any(|m| enum_matches(m, value)) {
                let list: Vec<String> = members.iter().map(scalar_text).collect();
                errs.push(format!(
                    "{ptr}: {} is not one of [{}]",
                    describe_short(value),
                    list.join(", ")
                ));
            }
        }
        match value {
            Value::String(s) => check_string(schema, s, ptr, errs),
            Value::Number(n) => check_number(schema, n, ptr, errs),
            Value::Object(obj) => self.validate_object(schema, obj, ptr, depth, errs),
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.validate(item_schema, item, &format!("{ptr}/{i}"), depth + 1, errs);
                    }
                }
                let n = items.len() as u64;
                if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
                    if n < min {
                        errs.push(format!("{ptr}: {n} items, fewer than minItems {min}"));
                    }
                }
                if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
                    if n > max {
                        errs.push(format!("{ptr}: {n} items, more than maxItems {max}"));
                    }
                }
            }
            _ => {}
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for sub in all {
                self.validate(sub, value, ptr, depth + 1, errs);
            }
        }
        if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
            let results: Vec<Vec<String>> = any
                .iter()
                .map(|s| self.sub_errors(s, value, ptr, depth))
                .collect();
            if !results.iter().any(Vec::is_empty) {
                errs.push(format!(
                    "{ptr}: matches none of anyOf ({})",
                    first_reasons(&results)
                ));
            }
        }
        if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
            let results: Vec<Vec<String>> = one
                .iter()
                .map(|s| self.sub_errors(s, value, ptr, depth))
                .collect();
            match results.iter().filter(|r| r.is_empty()).count() {
                1 => {}
                0 => errs.push(format!(
                    "{ptr}: matches none of oneOf ({})",
                    first_reasons(&results)
                )),
                n => errs.push(format!(
                    "{ptr}: matches {n} of oneOf's alternatives, must match exactly one"
                )),
            }
        }
        if let Some(not) = schema.get("not") {
            if self.sub_errors(not, value, ptr, depth).is_empty() {
                errs.push(format!("{ptr}: matches a `not` schema"));
            }
        }
    }

    fn sub_errors(&self, schema: &Value, value: &Value, ptr: &str, depth: u32) -> Vec<String> {
        let mut errs = Vec::new();
        self.validate(schema, value, ptr, depth + 1, &mut errs);
        errs
    }

    fn validate_object(
        &self,
        schema: &Map<String, Value>,
        obj: &Map<String, Value>,
        ptr: &str,
        depth: u32,
        errs: &mut Vec<String>,
    ) {
        let props = schema.get("properties").and_then(Value::as_object);
        if let Some(props) = props {
            for (name, sub) in props {
                if let Some(v) = obj.get(name) {
                    self.validate(sub, v, &format!("{ptr}/{}", escape(name)), depth + 1, errs);
                }
            }
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !obj.contains_key(name) {
                    errs.push(format!("{ptr}: missing required property `{name}`"));
                }
            }
        }
        let extra = obj
            .iter()
            .filter(|(k, _)| props.is_none_or(|p| !p.contains_key(*k)));
        match schema.get("additionalProperties") {
            Some(Value::Bool(false)) => {
                for (k, _) in extra {
                    errs.push(format!(
                        "{ptr}: property `{k}` is not allowed (additionalProperties: false)"
                    ));
                }
            }
            Some(sub @ Value::Object(_)) => {
                for (k, v) in extra {
                    self.validate(sub, v, &format!("{ptr}/{}", escape(k)), depth + 1, errs);
                }
            }
            _ => {}
        }
        let n = obj.len() as u64;
        if let Some(min) = schema.get("minProperties").and_then(Value::as_u64) {
            if n < min {
                errs.push(format!(
                    "{ptr}: {n} properties, fewer than minProperties {min}"
                ));
            }
        }
        if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64) {
            if n > max {
                errs.push(format!(
                    "{ptr}: {n} properties, more than maxProperties {max}"
                ));
            }
        }
    }
}

/// The emulator's recorded requests, as requests to check.
pub fn recorded(reqs: &[soracom_emulator::RecordedRequest]) -> impl Iterator<Item = Request<'_>> {
    reqs.iter().map(|r| Request {
        method: &r.method,
        path: &r.path,
        query: r.query.as_deref(),
        headers: &r.headers,
        body: r.body.as_deref(),
    })
}

/// Checks every request; returns what was checked.
///
/// # Panics
/// When any request violates the spec, listing every violation, one per line.
pub fn assert_conforms<'a>(
    spec: &Spec,
    reqs: impl IntoIterator<Item = Request<'a>>,
) -> ContractReport {
    let mut report = ContractReport::default();
    let mut violations = Vec::new();
    for req in reqs {
        report.checked += 1;
        match spec.check(&req) {
            Ok(op) => *report.by_operation.entry(op).or_insert(0) += 1,
            Err(v) => violations.push(v.to_string()),
        }
    }
    if !violations.is_empty() {
        panic!(
            "{} of {} requests violate the SORACOM API spec:\n  {}",
            violations.len(),
            report.checked,
            violations.join("\n  ")
        );
    }
    report
}

fn split_path(path: &str) -> impl Iterator<Item = &str> {
    path.strip_prefix('/').unwrap_or(path).split('/')
}

fn find_param<'s>(params: &[&'s Value], location: &str, name: &str) -> Option<&'s Value> {
    params.iter().copied().find(|p| {
        p.get("in").and_then(Value::as_str) == Some(location)
            && p.get("name").and_then(Value::as_str) == Some(name)
    })
}

fn is_required(def: &Value) -> bool {
    def.get("required").and_then(Value::as_bool) == Some(true)
}

fn check_header_params(
    headers: &[(String, String)],
    params: &[&Value],
    problems: &mut Vec<String>,
) {
    for def in params {
        if def.get("in").and_then(Value::as_str) != Some("header") || !is_required(def) {
            continue;
        }
        if let Some(name) = def.get("name").and_then(Value::as_str) {
            let lower = name.to_ascii_lowercase();
            if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(&lower)) {
                problems.push(format!("required header `{name}` is missing"));
            }
        }
    }
}

/// Enum members compare as JSON values; a string schema whose YAML enum lists bare `true` or
/// numbers (the spec has `enum: [true, false]` on a string) also accepts their text.
fn enum_matches(member: &Value, value: &Value) -> bool {
    if member == value {
        return true;
    }
    match (member, value) {
        (Value::Bool(_) | Value::Number(_), Value::String(s)) => &member.to_string() == s,
        _ => false,
    }
}

fn check_string(schema: &Map<String, Value>, s: &str, ptr: &str, errs: &mut Vec<String>) {
    let len = s.chars().count() as u64;
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
        if len < min {
            errs.push(format!(
                "{ptr}: string of length {len} is shorter than minLength {min}"
            ));
        }
    }
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
        if len > max {
            errs.push(format!(
                "{ptr}: string of length {len} is longer than maxLength {max}"
            ));
        }
    }
}

fn check_number(
    schema: &Map<String, Value>,
    n: &serde_json::Number,
    ptr: &str,
    errs: &mut Vec<String>,
) {
    let Some(x) = n.as_f64() else { return };
    let exclusive = |k: &str| schema.get(k).and_then(Value::as_bool) == Some(true);
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
        if x < min || (exclusive("exclusiveMinimum") && x == min) {
            errs.push(format!("{ptr}: {n} is below the minimum {min}"));
        }
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        if x > max || (exclusive("exclusiveMaximum") && x == max) {
            errs.push(format!("{ptr}: {n} is above the maximum {max}"));
        }
    }
}

fn describe(value: &Value) -> String {
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    match value {
        Value::Array(_) | Value::Object(_) => kind.to_string(),
        _ => format!("{kind} {}", describe_short(value)),
    }
}

fn describe_short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(60).collect::<String>())
    } else {
        text
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn first_reasons(results: &[Vec<String>]) -> String {
    results
        .iter()
        .filter_map(|r| r.first())
        .take(3)
        .map(|s| s.trim_start_matches(": ").to_string())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// JSON pointer escaping of one reference token.
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Decodes `%XX` escapes (and `+` as a space in form-encoded text).
pub(crate) fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |j: usize| bytes.get(j).and_then(|b| (*b as char).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                // Two hex digits are below 256.
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b'+', _, _) if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
