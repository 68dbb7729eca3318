//! The contract check against the real SORACOM spec (`shared/` beside the workspace).

use serde_json::json;
use testkit::contract::{assert_conforms, OwnedRequest, Request, Spec};

fn auth_headers() -> Vec<(String, String)> {
    vec![
        ("x-soracom-api-key".into(), "api-123".into()),
        ("x-soracom-token".into(), "token-123".into()),
        ("content-type".into(), "application/json".into()),
    ]
}

fn req(method: &str, path: &str, body: Option<serde_json::Value>) -> OwnedRequest {
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (path.to_string(), None),
    };
    OwnedRequest {
        method: method.into(),
        path,
        query,
        headers: auth_headers(),
        body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
    }
}

fn event_handler() -> serde_json::Value {
    json!({
        "name": "rotate-notify",
        "description": "calls a Lambda",
        "status": "active",
        "targetGroupId": "g1",
        "ruleConfig": {
            "type": "SubscriberDailyTrafficRule",
            "properties": {
                "inactiveTimeoutDateConst": "BEGINNING_OF_NEXT_DAY",
                "limitTotalTrafficMegaByte": "100"
            }
        },
        "actionConfigList": [{
            "type": "InvokeAWSLambdaAction",
            "properties": {
                "executionDateTimeConst": "IMMEDIATELY",
                "endpoint": "https://lambda.us-east-1.amazonaws.com",
                "functionName": "f",
                "credentialsId": "aws-x-261128"
            }
        }]
    })
}

fn accepted() -> Vec<(OwnedRequest, &'static str)> {
    let mut auth = req(
        "POST",
        "/v1/auth",
        Some(json!({"authKeyId": "keyId-x", "authKey": "secret-x"})),
    );
    auth.headers = vec![("content-type".into(), "application/json".into())];
    vec![
        (auth, "auth"),
        (
            req("GET", "/v1/groups?limit=100&last_evaluated_key=abc", None),
            "listGroups",
        ),
        (
            req(
                "PUT",
                "/v1/groups/g1/configuration/SoracomFunnel",
                Some(json!([{"key": "credentialsId", "value": "x"}])),
            ),
            "putConfigurationParameters",
        ),
        (
            req(
                "PUT",
                "/v1/groups/g1/configuration/SoracomFunk",
                Some(json!([{"key": "credentialsId", "value": {"$credentialsId": "x"}}])),
            ),
            "putConfigurationParameters",
        ),
        (
            req(
                "POST",
                "/v1/credentials/aws-x-261128",
                Some(json!({
                    "type": "aws-credentials",
                    "description": "managed by soracom-key-rotator; key AKIAEXAMPLE",
                    "credentials": {"accessKeyId": "A", "secretAccessKey": "B"}
                })),
            ),
            "createCredential",
        ),
        (req("GET", "/v1/credentials", None), "listCredentials"),
        (req("DELETE", "/v1/credentials/x", None), "deleteCredential"),
        (req("GET", "/v1/event_handlers", None), "listEventHandlers"),
        (
            req("PUT", "/v1/event_handlers/h1", Some(event_handler())),
            "updateEventHandler",
        ),
    ]
}

#[test]
fn accepts_what_the_rotator_sends() {
    let spec = Spec::load_default();
    for (r, op) in accepted() {
        assert_eq!(spec.check(&r.as_request()), Ok(op.to_string()));
    }
    let reqs = accepted();
    let report = assert_conforms(spec, reqs.iter().map(|(r, _)| r.as_request()));
    assert_eq!(report.checked, 9);
    assert_eq!(
        report.by_operation.get("putConfigurationParameters"),
        Some(&2)
    );
    assert_eq!(report.by_operation.len(), 8);
}

/// Each case: the request and a phrase its violation must contain.
#[test]
fn rejects_with_a_reason_naming_the_problem() {
    let spec = Spec::load_default();
    let mut no_auth = req("GET", "/v1/credentials", None);
    no_auth.headers.clear();
    let mut bad_auth = req(
        "POST",
        "/v1/auth",
        Some(json!({"authKeyId": "k", "authKey": "s", "tokenTimeoutSeconds": "abc"})),
    );
    bad_auth.headers.clear();
    let mut not_json = req("POST", "/v1/credentials/x", None);
    not_json.body = b"{not json".to_vec();
    let cases = [
        (req("GET", "/v1/no_such_thing", None), "no path in the spec matches"),
        (req("GET", "/groups", None), "base path /v1"),
        (req("PATCH", "/v1/credentials/x", None), "method PATCH is not defined"),
        (req("GET", "/v1/groups?bogus=1", None), "query parameter `bogus` is not declared"),
        (req("GET", "/v1/groups?limit=abc", None), "query parameter `limit`: \"abc\" is not an integer"),
        (req("GET", "/v1/groups?limit=1&limit=2", None), "given 2 times"),
        (
            req("GET", "/v1/groups?tag_value_match_mode=fuzzy", None),
            "\"fuzzy\" is not one of [exact, prefix]",
        ),
        (
            req(
                "PUT",
                "/v1/groups/g1/configuration/SoracomNope",
                Some(json!([{"key": "credentialsId", "value": "x"}])),
            ),
            "path parameter `namespace`: \"SoracomNope\" is not one of",
        ),
        (
            req(
                "POST",
                "/v1/credentials/x",
                Some(json!({"type": "bogus", "credentials": {}})),
            ),
            "body/type: \"bogus\" is not one of [aws-credentials",
        ),
        (
            req("GET", "/v1/credentials", Some(json!({"a": 1}))),
            "takes no request body",
        ),
        (req("PUT", "/v1/credentials/x", None), "request body is required"),
        (no_auth, "authentication missing: needs header x-soracom-api-key and header x-soracom-token"),
        (bad_auth, "body/tokenTimeoutSeconds: expected integer, got string \"abc\""),
        (
            req(
                "PUT",
                "/v1/groups/g1/configuration/SoracomFunnel",
                Some(json!({"credentialsId": "x"})),
            ),
            "body: expected array, got object",
        ),
        (
            req(
                "PUT",
                "/v1/groups/g1/configuration/SoracomFunnel",
                Some(json!([{"key": "credentialsId"}])),
            ),
            "body/0: missing required property `value`",
        ),
        (
            req(
                "PUT",
                "/v1/event_handlers/h1",
                Some({
                    let mut h = event_handler();
                    h["actionConfigList"][0]["properties"]["executionDateTimeConst"] = json!(1);
                    h
                }),
            ),
            "body/actionConfigList/0/properties/executionDateTimeConst: expected string, got integer 1",
        ),
        (not_json, "request body is not valid JSON"),
        // Caught since the schemas are checked by the jsonschema crate: int32 bounds, formats,
        // patterns, uniqueItems, and additionalProperties: false beside no properties.
        (
            req("GET", "/v1/batch_groups?limit=2147483648", None),
            "query parameter `limit`: 2147483648 is above the maximum 2147483647",
        ),
        (
            req("POST", "/v1/device_object_models", Some(json!({"createdTime": "yesterday"}))),
            "body/createdTime: \"yesterday\" is not a \"date-time\"",
        ),
        (
            req(
                "POST",
                "/v1/sora_cam/devices/d1/atom_cam/settings/self_reboot",
                Some(json!({"enabled": true, "time": "25:00"})),
            ),
            "body/time: \"25:00\" does not match \"^([01][0-9]|2[0-3]):[0-5][0-9]$\"",
        ),
        (
            req(
                "POST",
                "/v1/lora_network_sets",
                Some(json!({"allowedOperators": ["OP1", "OP1"]})),
            ),
            "body/allowedOperators: [\"OP1\",\"OP1\"] has non-unique elements",
        ),
        (
            req("POST", "/v1/sims/s1/sessions/arc", Some(json!({"x": 1}))),
            "body: property `x` is not allowed (additionalProperties: false)",
        ),
    ];
    let mut failures = Vec::new();
    for (r, phrase) in &cases {
        match spec.check(&r.as_request()) {
            Ok(op) => failures.push(format!("{} {}: accepted as {op}", r.method, r.path)),
            Err(v) => {
                let text = v.to_string();
                assert!(
                    text.starts_with(&format!("{} {}", r.method, r.path)),
                    "{text}"
                );
                if !text.contains(phrase) {
                    failures.push(format!("{text}\n    expected to contain: {phrase}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn prefers_literal_segments_and_reports_every_violation() {
    let spec = Spec::load_default();
    let op = |method: &str, path: &str| spec.check(&req(method, path, None).as_request());
    // /bills/latest and /bills/{yyyyMM} both match: the literal segment wins.
    assert_eq!(
        op("GET", "/v1/bills/latest"),
        Ok("getLatestBilling".to_string())
    );
    assert_eq!(op("GET", "/v1/bills/202611"), Ok("getBilling".to_string()));
    assert_eq!(
        op("GET", "/v1/sora_cam/devices/events"),
        Ok("listSoraCamDeviceEvents".to_string())
    );
    // /subscribers/export has no GET: the parameter template that has one is used.
    assert_eq!(
        op("GET", "/v1/subscribers/export"),
        Ok("getSubscriber".to_string())
    );
    assert_eq!(op("GET", "/v1/groups/g1"), Ok("getGroup".to_string()));

    let a = req("GET", "/v1/groups?bogus=1", None);
    let b = req("DELETE", "/v1/nowhere", None);
    let ok = req("GET", "/v1/credentials", None);
    let result = std::panic::catch_unwind(|| {
        assert_conforms(spec, [a.as_request(), ok.as_request(), b.as_request()])
    });
    let message = match result {
        Ok(report) => panic!("violations were not reported: {report:?}"),
        Err(e) => e.downcast_ref::<String>().cloned().unwrap_or_default(),
    };
    assert!(message.contains("2 of 3 requests violate"), "{message}");
    assert!(
        message.contains("GET /v1/groups: [listGroups] query parameter `bogus`"),
        "{message}"
    );
    assert!(message.contains("DELETE /v1/nowhere"), "{message}");
}

#[test]
fn borrowed_request_with_query_in_path() {
    let spec = Spec::load_default();
    let headers = auth_headers();
    let r = Request {
        method: "get",
        path: "/v1/groups?limit=5",
        query: None,
        headers: &headers,
        body: None,
    };
    assert_eq!(spec.check(&r), Ok("listGroups".to_string()));
}

#[test]
fn loads_the_whole_spec() {
    let started = std::time::Instant::now();
    let spec = Spec::load(&Spec::default_path()).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "loaded {} paths from {} in {:?}",
        spec.path_count(),
        Spec::default_path().display(),
        started.elapsed()
    );
    assert!(spec.path_count() > 300, "{spec:?}");
}

#[test]
fn missing_spec_file_is_an_error_naming_the_path() {
    let path = std::path::Path::new("/nonexistent/soracom-api.en.yaml");
    let err = Spec::load(path)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("/nonexistent/soracom-api.en.yaml"), "{err}");
}

#[test]
fn schema_keywords_on_a_small_spec() {
    let spec = Spec::parse(
        r##"
openapi: 3.0.0
paths:
  /things/{id}:
    parameters:
    - {in: path, name: id, required: true, schema: {type: integer, minimum: 1}}
    post:
      operationId: postThing
      parameters:
      - {in: query, name: must, required: true, schema: {type: boolean}}
      - {in: query, name: tags, schema: {type: array, items: {type: string, maxLength: 3}}}
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Thing'}
components:
  schemas:
    Thing:
      type: object
      required: [kind]
      additionalProperties: false
      properties:
        kind: {type: string, enum: [a, b]}
        note: {type: string, nullable: true, minLength: 2}
        size: {type: number, maximum: 10}
        either:
          oneOf:
          - {type: string}
          - {type: integer}
          - {type: number}
        both:
          allOf:
          - {type: object, required: [x]}
          - {type: object, required: [y]}
        child: {$ref: '#/components/schemas/Thing'}
"##,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let check = |path: &str, body: serde_json::Value| {
        let r = req("POST", path, Some(body));
        spec.check(&r.as_request()).map_err(|v| v.reason)
    };
    assert_eq!(
        check(
            "/v1/things/3?must=true&tags=ab&tags=cd",
            json!({"kind": "a", "note": null, "either": "s"})
        ),
        Ok("postThing".to_string())
    );
    let err = |path: &str, body| check(path, body).err().unwrap_or_default();
    assert!(
        err("/v1/things/0?must=true", json!({"kind": "a"})).contains("0 is below the minimum 1")
    );
    assert!(err("/v1/things/1", json!({"kind": "a"})).contains("required query parameter `must`"));
    assert!(err("/v1/things/1?must=yes", json!({"kind": "a"})).contains("not a boolean"));
    assert!(
        err("/v1/things/1?must=true&tags=abcd", json!({"kind": "a"}))
            .contains("longer than maxLength 3")
    );
    let e = err(
        "/v1/things/1?must=true",
        json!({"kind": "c", "extra": 1, "note": "x", "size": 11}),
    );
    assert!(e.contains("body/kind: \"c\" is not one of [a, b]"), "{e}");
    assert!(e.contains("body: property `extra` is not allowed"), "{e}");
    assert!(
        e.contains("body/note: string of length 1 is shorter than minLength 2"),
        "{e}"
    );
    assert!(e.contains("body/size: 11 is above the maximum 10"), "{e}");
    // 1 is both an integer and a number: oneOf needs exactly one.
    let e = err("/v1/things/1?must=true", json!({"kind": "a", "either": 1}));
    assert!(e.contains("body/either: matches 2 of oneOf"), "{e}");
    let e = err(
        "/v1/things/1?must=true",
        json!({"kind": "a", "either": true}),
    );
    assert!(e.contains("body/either: matches none of oneOf"), "{e}");
    let e = err(
        "/v1/things/1?must=true",
        json!({"kind": "a", "both": {"x": 1}}),
    );
    assert!(
        e.contains("body/both: missing required property `y`"),
        "{e}"
    );
    let e = err(
        "/v1/things/1?must=true",
        json!({"kind": "a", "child": {"kind": "z"}}),
    );
    assert!(e.contains("body/child/kind: \"z\" is not one of"), "{e}");
    let e = err("/v1/things/1?must=true", json!({"kind": "a", "note": 1.5}));
    assert!(
        e.contains("body/note: expected string, got number 1.5"),
        "{e}"
    );
}

/// What OpenAPI 3.0 adds to or changes in JSON Schema, and the keywords checked since the
/// jsonschema crate does the checking.
#[test]
fn openapi_schema_dialect_on_a_small_spec() {
    let colours: Vec<String> = (0..100).map(|i| format!("colour-{i:03}")).collect();
    let text = r##"
openapi: 3.0.0
paths:
  /things:
    post:
      operationId: postThing
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Thing'}
  /broken:
    post:
      operationId: postBroken
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Nowhere'}
components:
  schemas:
    Thing:
      type: object
      required: [id, name]
      x-internal: true
      example: {id: 1}
      properties:
        id: {type: string, readOnly: true}
        name: {type: string, example: 5}
        action: {type: string, nullable: true, enum: [stop, go]}
        flag: {type: string, enum: [true, false]}
        at: {type: string, format: date-time}
        link: {type: string, format: uri}
        month: {type: string, format: yyyyMM}
        count: {type: integer, format: int32}
        code: {type: string, pattern: '^[a-z]+$'}
        tags: {type: array, uniqueItems: true, items: {type: string}}
        ratio: {type: number, minimum: 0, exclusiveMinimum: true}
        either: {anyOf: [{type: string}, {type: integer}]}
        empty: {type: object, additionalProperties: false}
        colour: {type: string, enum: [COLOURS]}
        many: {type: array, items: {type: integer}}
"##
    .replace("COLOURS", &colours.join(", "));
    let spec = Spec::parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let check = |path: &str, body: serde_json::Value| {
        let r = req("POST", path, Some(body));
        spec.check(&r.as_request()).map_err(|v| v.reason)
    };
    // readOnly `id` is not required; `example` and `x-*` constrain nothing; nullable admits
    // null beside the enum; a string enum's unquoted YAML `true` is the text "true".
    assert_eq!(
        check(
            "/v1/things",
            json!({
                "name": "n", "action": null, "flag": "true", "at": "2026-11-28T10:00:00Z",
                "link": "https://example.com/x", "month": "202611", "count": 2147483647,
                "code": "abc", "tags": ["a", "b"], "ratio": 0.5, "either": 3, "empty": {},
                "colour": "colour-042", "many": [1, 2]
            })
        ),
        Ok("postThing".to_string())
    );
    let err = |body: serde_json::Value| check("/v1/things", body).err().unwrap_or_default();
    let with = |key: &str, value: serde_json::Value| {
        let mut body = json!({"name": "n"});
        body[key] = value;
        err(body)
    };
    let e = err(json!({}));
    assert!(e.contains("body: missing required property `name`"), "{e}");
    assert!(!e.contains("`id`"), "{e}");
    let cases = [
        (
            "action",
            json!("run"),
            "body/action: \"run\" is not one of [stop, go, null]",
        ),
        (
            "flag",
            json!(true),
            "body/flag: expected string, got boolean true",
        ),
        (
            "at",
            json!("yesterday"),
            "body/at: \"yesterday\" is not a \"date-time\"",
        ),
        (
            "link",
            json!("not a uri"),
            "body/link: \"not a uri\" is not a \"uri\"",
        ),
        (
            "month",
            json!("2026-11"),
            "body/month: \"2026-11\" is not a \"yyyyMM\"",
        ),
        (
            "count",
            json!(2147483648u64),
            "body/count: 2147483648 is above the maximum 2147483647",
        ),
        (
            "count",
            json!(1.0),
            "body/count: expected integer, got number 1.0",
        ),
        (
            "code",
            json!("ABC"),
            "body/code: \"ABC\" does not match \"^[a-z]+$\"",
        ),
        (
            "tags",
            json!(["a", "a"]),
            "body/tags: [\"a\",\"a\"] has non-unique elements",
        ),
        (
            "ratio",
            json!(0),
            "body/ratio: 0 is less than or equal to the minimum of 0",
        ),
        (
            "either",
            json!(true),
            "body/either: matches none of anyOf (expected string, got",
        ),
        (
            "empty",
            json!({"a": 1, "b": 2}),
            "body/empty: properties `a`, `b` are not allowed (additionalProperties: false)",
        ),
    ];
    for (key, value, phrase) in cases {
        let e = with(key, value);
        assert!(e.contains(phrase), "{e}\n    expected to contain: {phrase}");
        assert!(e.starts_with("[postThing] "), "{e}");
    }
    // Messages stay bounded: a long enum is cut, and so is a long list of problems.
    let e = with("colour", json!("x".repeat(500)));
    assert!(e.contains("is not one of [colour-000, colour-001"), "{e}");
    assert!(e.contains('…') && e.len() < 600, "{} chars: {e}", e.len());
    let e = with("many", json!(vec!["a"; 30]));
    assert!(e.contains("body/many/9: expected integer"), "{e}");
    assert!(!e.contains("body/many/10:"), "{e}");
    assert!(e.contains("… and 20 more"), "{e}");
    // A schema the spec cannot resolve is a violation, never a silent pass.
    let e = check("/v1/broken", json!({})).err().unwrap_or_default();
    assert!(
        e.contains("[postBroken] body: the spec's schema cannot be compiled"),
        "{e}"
    );
}
