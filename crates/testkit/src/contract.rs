//! Checks SORACOM API requests against the official OpenAPI 3.0 spec.
//!
//! The emulator accepts what we taught it; this check holds the client to what SORACOM
//! documents instead: path and method, path and query parameters, the security headers, and
//! the JSON request body against its schema. Tests record the requests the client sent and
//! pass them to [`assert_conforms`].
//!
//! The OpenAPI parts (routing, parameters, security, content type) are checked here; schemas
//! are checked by the `jsonschema` crate (Draft 4, which OpenAPI 3.0 schemas extend), after
//! [`to_json_schema`] has translated each one, with the spec's `components/schemas` as the
//! store that `$ref`s resolve in.
//!
//! The spec is not part of the repository: it is read from `shared/` beside the workspace
//! (see [`Spec::load_default`]), parsed once per test process.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use jsonschema::{Draft, Registry, Validator};
use serde_json::{json, Map, Value};

/// Environment variable naming the spec file, overriding the default location.
pub const SPEC_ENV: &str = "SORACOM_SPEC";

/// Base path of every operation (`servers[].url` ends with it).
const BASE_PATH: &str = "/v1";

/// Bound on a chain of `$ref`s to parameters and request bodies.
const MAX_DEPTH: u32 = 64;

/// Base URI of the schema store: `components/schemas` of the spec, translated.
const STORE_URI: &str = "urn:soracom-api";

/// At most this many schema problems are reported per value, so a message stays readable.
const MAX_SCHEMA_PROBLEMS: usize = 10;

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
    /// Behind a lock, which also keeps `Spec` unwind-safe as it was.
    schemas: Mutex<Schemas>,
}

/// The schema store and the validators compiled against it.
struct Schemas {
    /// `components/schemas`, translated, at [`STORE_URI`].
    store: Registry<'static>,
    /// Validators by the text of the OpenAPI schema they were compiled from.
    compiled: HashMap<String, Arc<Validator>>,
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
        let schemas: Map<String, Value> = root
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(name, schema)| (name.clone(), to_json_schema(schema)))
            .collect();
        let store = Registry::new()
            .draft(Draft::Draft4)
            .add(STORE_URI, json!({ "components": { "schemas": schemas } }))
            .and_then(|builder| builder.prepare())
            .map_err(|e| format!("cannot index components/schemas: {e}"))?;
        Ok(Spec {
            root,
            by_len,
            schemes,
            schemas: Mutex::new(Schemas {
                store,
                compiled: HashMap::new(),
            }),
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
        // Literal segments win over parameters, the leftmost difference deciding.
        let literalness = |t: &PathTemplate| -> Vec<bool> {
            t.segments
                .iter()
                .map(|s| matches!(s, Segment::Literal(_)))
                .collect()
        };
        let best = candidates
            .iter()
            .filter_map(|t| self.operation(t, &lower).map(|op| (*t, op)))
            .max_by_key(|(t, _)| literalness(t));
        best.ok_or_else(|| format!("method {method} is not defined for this path"))
    }

    /// The operation for `method` (lowercase) under template `t`, if the spec has one.
    fn operation(&self, t: &PathTemplate, method: &str) -> Option<&Value> {
        let op = self.root.get("paths")?.get(&t.template)?.get(method)?;
        op.is_object().then_some(op)
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
                problems.push(format!("query parameter `{name}` is not declared"));
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
                        let mut errs = self.schema_problems(schema, &value);
                        // Where the spec's own example of this operation breaks its schema,
                        // a body of exactly that example's shape is not held to it.
                        if !errs.is_empty() {
                            if let Some(example) = self.example_shaped_like(media, &value) {
                                let contradicted = self.schema_problems(schema, example);
                                errs.retain(|e| !contradicted.contains(e));
                            }
                        }
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

    /// The value of one of the media type's `examples` that `body` has the shape of
    /// ([`same_shape`]), if any.
    ///
    /// The spec contradicts itself in places: createCredential's schema
    /// (`CreateAndUpdateCredentialsModel`) allows four `type`s, while its examples register
    /// sixteen more (`IAMRoleCredentials`: `aws-iam-role-credentials` with `roleArn` and
    /// `externalId`), as `CredentialsModel` lists them. The examples are what SORACOM shows
    /// callers to send; a request shaped exactly like one is held to the schema only where
    /// that example is.
    fn example_shaped_like<'s>(&'s self, media: &'s Value, body: &Value) -> Option<&'s Value> {
        let examples = media.get("examples")?.as_object()?;
        examples
            .values()
            .filter_map(|e| self.resolve(e, 0).get("value"))
            .find(|example| same_shape(example, body, true))
    }

    /// Validates one path/query/header value against the parameter's schema.
    fn check_param_value(&self, def: &Value, raw: &str) -> Result<(), String> {
        match def.get("schema") {
            Some(schema) => self.check_raw_value(schema, raw),
            None => Ok(()),
        }
    }

    /// Reads a raw string as the schema's type (as text when it is not one, for the
    /// validator to reject), then validates it.
    fn check_raw_value(&self, schema: &Value, raw: &str) -> Result<(), String> {
        let value = match self.resolve(schema, 0).get("type").and_then(Value::as_str) {
            Some("integer") => raw.parse::<i64>().ok().map(Value::from),
            Some("number") => raw
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number),
            Some("boolean") => raw.parse::<bool>().ok().map(Value::Bool),
            _ => None,
        };
        let errs = self.schema_problems(schema, &value.unwrap_or_else(|| raw.into()));
        if errs.is_empty() {
            return Ok(());
        }
        // Pointers of a scalar are empty: drop the leading ": ".
        let errs: Vec<&str> = errs.iter().map(|e| e.trim_start_matches(": ")).collect();
        Err(errs.join(", "))
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

    /// What is wrong with `value` under the OpenAPI `schema`: `"<JSON pointer>: <problem>"`
    /// each (the validator's words, bounded), the pointer empty for `value` itself.
    fn schema_problems(&self, schema: &Value, value: &Value) -> Vec<String> {
        let validator = match self.validator(schema) {
            Ok(v) => v,
            Err(e) => return vec![format!(": the spec's schema cannot be compiled: {e}")],
        };
        let mut problems: Vec<String> = validator
            .iter_errors(value)
            .map(|e| format!("{}: {}", e.instance_path(), bounded(&e.to_string(), 300)))
            .collect();
        if problems.len() > MAX_SCHEMA_PROBLEMS {
            let more = problems.len() - MAX_SCHEMA_PROBLEMS;
            problems.truncate(MAX_SCHEMA_PROBLEMS);
            problems.push(format!(": … and {more} more"));
        }
        problems
    }

    /// The validator for an OpenAPI schema, compiled on first use.
    fn validator(&self, schema: &Value) -> Result<Arc<Validator>, String> {
        let key = schema.to_string();
        // A panic while the lock was held (none is expected) leaves nothing half-done.
        let mut schemas = self.schemas.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = schemas.compiled.get(&key) {
            return Ok(Arc::clone(v));
        }
        let validator = jsonschema::options()
            .with_draft(Draft::Draft4)
            .with_registry(&schemas.store)
            .offline() // a `$ref` outside the store fails; nothing is fetched
            .should_validate_formats(true)
            .with_format("yyyyMM", |s: &str| is_digits(s, 6))
            .with_format("yyyyMMdd", |s: &str| is_digits(s, 8))
            .with_format("yyyyMMddHHmmss", |s: &str| is_digits(s, 14))
            .build(&to_json_schema(schema))
            .map(Arc::new)
            .map_err(|e| bounded(&e.to_string(), 200))?;
        schemas.compiled.insert(key, Arc::clone(&validator));
        Ok(validator)
    }
}

/// The JSON Schema keywords an OpenAPI 3.0 Schema Object takes over (OAS 3.0.3, Schema
/// Object), annotations left out: nothing else constrains a value.
const JSON_SCHEMA_KEYWORDS: &str = "type enum required properties additionalProperties items \
    allOf oneOf anyOf not format pattern minLength maxLength minimum maximum exclusiveMinimum \
    exclusiveMaximum multipleOf minItems maxItems uniqueItems minProperties maxProperties";

/// Translates an OpenAPI 3.0 Schema Object into a Draft 4 JSON Schema that checks a request.
///
/// - Only [`JSON_SCHEMA_KEYWORDS`] are kept: `example`, `description`, `default`,
///   `deprecated`, `discriminator`, `x-*` and the like constrain nothing.
/// - `nullable: true` adds `"null"` to `type`, and `null` to `enum` if there is one: null is
///   then accepted wherever the spec says nullable.
/// - `readOnly` is an annotation: a required read-only property stays required, as the
///   hand-written check had it (the spec marks none).
/// - A `type: string` enum's members that YAML read as booleans or numbers (the spec has an
///   unquoted `enum: [true, false]`) become their text.
/// - `format: int32` and `int64` become `minimum`/`maximum` bounds where none is given; the
///   other formats are checked by the validator: `date-time` and `uri` as JSON Schema defines
///   them, `yyyyMM`, `yyyyMMdd` and `yyyyMMddHHmmss` as that many digits, any other one not.
/// - `$ref: '#/…'` points into the store at [`STORE_URI`]; a `$ref`'s siblings are dropped,
///   as OpenAPI 3.0 ignores them.
fn to_json_schema(schema: &Value) -> Value {
    let Some(obj) = schema.as_object() else {
        return schema.clone();
    };
    if let Some(target) = obj.get("$ref").and_then(Value::as_str) {
        let target = match target.strip_prefix('#') {
            Some(pointer) => format!("{STORE_URI}#{pointer}"),
            None => target.to_string(),
        };
        return json!({ "$ref": target });
    }
    let mut out = Map::new();
    for (key, v) in obj {
        let v = match key.as_str() {
            k if !JSON_SCHEMA_KEYWORDS.split_whitespace().any(|w| w == k) => continue,
            "properties" => Value::Object(
                v.as_object()
                    .into_iter()
                    .flatten()
                    .map(|(name, s)| (name.clone(), to_json_schema(s)))
                    .collect(),
            ),
            "items" | "additionalProperties" | "not" => to_json_schema(v),
            "allOf" | "anyOf" | "oneOf" => match v {
                Value::Array(items) => Value::Array(items.iter().map(to_json_schema).collect()),
                _ => v.clone(),
            },
            _ => v.clone(),
        };
        out.insert(key.clone(), v);
    }
    let nullable = obj.get("nullable") == Some(&Value::Bool(true));
    let is_string = out.get("type") == Some(&json!("string"));
    if let Some(Value::Array(members)) = out.get_mut("enum") {
        let mut unique: Vec<Value> = Vec::new();
        for m in members.drain(..).chain(nullable.then_some(Value::Null)) {
            let m = match m {
                Value::Bool(_) | Value::Number(_) if is_string => Value::String(m.to_string()),
                m => m,
            };
            if !unique.contains(&m) {
                unique.push(m);
            }
        }
        *members = unique;
    }
    if nullable {
        if let Some(ty @ Value::String(_)) = out.get_mut("type") {
            *ty = json!([ty.take(), "null"]);
        }
    }
    let bounds: Option<(Value, Value)> = match obj.get("format").and_then(Value::as_str) {
        Some("int32") => Some((i32::MIN.into(), i32::MAX.into())),
        Some("int64") => Some((i64::MIN.into(), i64::MAX.into())),
        _ => None,
    };
    if let Some((min, max)) = bounds {
        out.entry("minimum").or_insert(min);
        out.entry("maximum").or_insert(max);
    }
    Value::Object(out)
}

/// Whether `body` has the shape of `example`: the same keys (at the top, `body` may add
/// keys its schema declares, which the schema check covers), values of the same JSON kind,
/// and the same `type` (the discriminator of a credential set).
fn same_shape(example: &Value, body: &Value, top: bool) -> bool {
    match (example, body) {
        (Value::Object(e), Value::Object(b)) => {
            let keys_ok = if top {
                e.keys().all(|k| b.contains_key(k))
            } else {
                e.len() == b.len() && e.keys().all(|k| b.contains_key(k))
            };
            keys_ok
                && e.iter().all(|(k, ev)| {
                    b.get(k).is_some_and(|bv| {
                        if k == "type" {
                            ev == bv
                        } else {
                            same_shape(ev, bv, false)
                        }
                    })
                })
        }
        (Value::Array(_), Value::Array(_))
        | (Value::String(_), Value::String(_))
        | (Value::Number(_), Value::Number(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::Null, Value::Null) => true,
        _ => false,
    }
}

fn is_digits(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
}

/// `text` cut to `max` characters, `…` marking the cut.
fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
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
