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

/// `spec.check` of `r` is a violation that names the request, the operation `op` (`None`:
/// the request matches no operation) and `at`: where the problem is (a JSON pointer into the
/// body, a parameter, …) or, for a request that matches no operation, what is wrong.
fn assert_rejected(
    spec: &Spec,
    r: &OwnedRequest,
    op: Option<&str>,
    at: &str,
) -> Result<(), String> {
    let text = match spec.check(&r.as_request()) {
        Ok(found) => return Err(format!("{} {}: accepted as {found}", r.method, r.path)),
        Err(v) => v.to_string(),
    };
    let head = format!("{} {}: ", r.method, r.path);
    let named = match op {
        Some(op) => text.starts_with(&format!("{head}[{op}] ")),
        None => text.starts_with(&head) && !text[head.len()..].starts_with('['),
    };
    if named && text.contains(at) {
        Ok(())
    } else {
        Err(format!(
            "{text}\n    expected: operation {op:?}, naming {at:?}"
        ))
    }
}

/// Each case: the request, its operation, and where its violation must say the problem is.
#[test]
fn rejects_naming_the_operation_and_where() {
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
    let mut handler = event_handler();
    handler["actionConfigList"][0]["properties"]["executionDateTimeConst"] = json!(1);
    let funnel = "/v1/groups/g1/configuration/SoracomFunnel";
    let cases = [
        (
            req("GET", "/v1/no_such_thing", None),
            None,
            "no path in the spec matches",
        ),
        (req("GET", "/groups", None), None, "base path /v1"),
        (
            req("PATCH", "/v1/credentials/x", None),
            None,
            "method PATCH is not defined",
        ),
        (
            req("GET", "/v1/groups?bogus=1", None),
            Some("listGroups"),
            "query parameter `bogus`",
        ),
        (
            req("GET", "/v1/groups?limit=abc", None),
            Some("listGroups"),
            "query parameter `limit`: ",
        ),
        (
            req("GET", "/v1/groups?limit=1&limit=2", None),
            Some("listGroups"),
            "query parameter `limit`",
        ),
        (
            req("GET", "/v1/groups?tag_value_match_mode=fuzzy", None),
            Some("listGroups"),
            "query parameter `tag_value_match_mode`: ",
        ),
        (
            req(
                "PUT",
                "/v1/groups/g1/configuration/SoracomNope",
                Some(json!([{"key": "credentialsId", "value": "x"}])),
            ),
            Some("putConfigurationParameters"),
            "path parameter `namespace`: ",
        ),
        (
            req(
                "POST",
                "/v1/credentials/x",
                Some(json!({"type": "bogus", "credentials": {}})),
            ),
            Some("createCredential"),
            "body/type: ",
        ),
        (
            req("GET", "/v1/credentials", Some(json!({"a": 1}))),
            Some("listCredentials"),
            "request body",
        ),
        (
            req("PUT", "/v1/credentials/x", None),
            Some("updateCredential"),
            "request body",
        ),
        (
            no_auth,
            Some("listCredentials"),
            "header x-soracom-api-key and header x-soracom-token",
        ),
        (bad_auth, Some("auth"), "body/tokenTimeoutSeconds: "),
        (
            req("PUT", funnel, Some(json!({"credentialsId": "x"}))),
            Some("putConfigurationParameters"),
            "body: ",
        ),
        (
            req("PUT", funnel, Some(json!([{"key": "credentialsId"}]))),
            Some("putConfigurationParameters"),
            "body/0: ",
        ),
        (
            req("PUT", "/v1/event_handlers/h1", Some(handler)),
            Some("updateEventHandler"),
            "body/actionConfigList/0/properties/executionDateTimeConst: ",
        ),
        (
            not_json,
            Some("createCredential"),
            "request body is not valid JSON",
        ),
        // Caught since the schemas are checked by the jsonschema crate: int32 bounds, formats,
        // patterns, uniqueItems, and additionalProperties: false beside no properties.
        (
            req("GET", "/v1/batch_groups?limit=2147483648", None),
            Some("listBatchGroups"),
            "query parameter `limit`: ",
        ),
        (
            req(
                "POST",
                "/v1/device_object_models",
                Some(json!({"createdTime": "yesterday"})),
            ),
            Some("createDeviceObjectModel"),
            "body/createdTime: ",
        ),
        (
            req(
                "POST",
                "/v1/sora_cam/devices/d1/atom_cam/settings/self_reboot",
                Some(json!({"enabled": true, "time": "25:00"})),
            ),
            Some("setSoraCamDeviceAtomCamSettingsSelfReboot"),
            "body/time: ",
        ),
        (
            req(
                "POST",
                "/v1/lora_network_sets",
                Some(json!({"allowedOperators": ["OP1", "OP1"]})),
            ),
            Some("createLoraNetworkSet"),
            "body/allowedOperators: ",
        ),
        (
            req("POST", "/v1/sims/s1/sessions/arc", Some(json!({"x": 1}))),
            Some("createArcSession"),
            "body: ",
        ),
    ];
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(r, op, at)| assert_rejected(spec, r, *op, at).err())
        .collect();
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
    // Each case is rejected, and the violation names the operation and where the problem is.
    let cases = [
        (
            "/v1/things/0?must=true",
            json!({"kind": "a"}),
            vec!["path parameter `id`: "],
        ),
        (
            "/v1/things/1",
            json!({"kind": "a"}),
            vec!["query parameter `must`"],
        ),
        (
            "/v1/things/1?must=yes",
            json!({"kind": "a"}),
            vec!["query parameter `must`: "],
        ),
        (
            "/v1/things/1?must=true&tags=abcd",
            json!({"kind": "a"}),
            vec!["query parameter `tags`: "],
        ),
        (
            "/v1/things/1?must=true",
            json!({"kind": "c", "extra": 1, "note": "x", "size": 11}),
            vec!["body/kind: ", "body: ", "body/note: ", "body/size: "],
        ),
        // 1 is both an integer and a number: oneOf needs exactly one.
        (
            "/v1/things/1?must=true",
            json!({"kind": "a", "either": 1}),
            vec!["body/either: "],
        ),
        (
            "/v1/things/1?must=true",
            json!({"kind": "a", "either": true}),
            vec!["body/either: "],
        ),
        (
            "/v1/things/1?must=true",
            json!({"kind": "a", "both": {"x": 1}}),
            vec!["body/both: "],
        ),
        (
            "/v1/things/1?must=true",
            json!({"kind": "a", "child": {"kind": "z"}}),
            vec!["body/child/kind: "],
        ),
        (
            "/v1/things/1?must=true",
            json!({"kind": "a", "note": 1.5}),
            vec!["body/note: "],
        ),
    ];
    for (path, body, places) in cases {
        let e = check(path, body.clone()).err().unwrap_or_default();
        assert!(e.starts_with("[postThing] "), "{path} {body}: {e}");
        for at in places {
            assert!(
                e.contains(at),
                "{path} {body}: {e}\n    expected to name {at}"
            );
        }
    }
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
    // `example`, `readOnly` and `x-*` constrain nothing; nullable admits null beside the
    // enum; a string enum's unquoted YAML `true` is the text "true".
    assert_eq!(
        check(
            "/v1/things",
            json!({
                "id": "i", "name": "n", "action": null, "flag": "true",
                "at": "2026-11-28T10:00:00Z", "link": "https://example.com/x", "month": "202611",
                "count": 2147483647, "code": "abc", "tags": ["a", "b"], "ratio": 0.5,
                "either": 3, "empty": {}, "colour": "colour-042", "many": [1, 2]
            })
        ),
        Ok("postThing".to_string())
    );
    let err = |body: serde_json::Value| check("/v1/things", body).err().unwrap_or_default();
    let with = |key: &str, value: serde_json::Value| {
        let mut body = json!({"id": "i", "name": "n"});
        body[key] = value;
        err(body)
    };
    // A required property is required even when it is read-only, as the hand-written check
    // had it (the SORACOM spec marks no property readOnly).
    for missing in ["id", "name"] {
        let mut body = json!({"id": "i", "name": "n"});
        body.as_object_mut().map(|o| o.remove(missing));
        let e = err(body);
        assert!(
            e.starts_with("[postThing] body: ") && e.contains(missing),
            "{e}"
        );
    }
    // Each value is rejected, and the violation names the operation and the member.
    let cases = [
        ("action", json!("run")),
        ("flag", json!(true)),
        ("at", json!("yesterday")),
        ("link", json!("not a uri")),
        ("month", json!("2026-11")),
        ("count", json!(2147483648u64)),
        ("count", json!(1.0)),
        ("code", json!("ABC")),
        ("tags", json!(["a", "a"])),
        ("ratio", json!(0)),
        ("either", json!(true)),
        ("empty", json!({"a": 1, "b": 2})),
    ];
    for (key, value) in cases {
        let e = with(key, value.clone());
        assert!(
            e.starts_with(&format!("[postThing] body/{key}: ")),
            "{key} = {value}: {e}"
        );
    }
    // Messages stay bounded: a long value is cut, and so is a long list of problems.
    let e = with("colour", json!("x".repeat(500)));
    assert!(e.starts_with("[postThing] body/colour: "), "{e}");
    assert!(e.len() < 600, "{} chars: {e}", e.len());
    let e = with("many", json!(vec!["a"; 30]));
    assert!(e.contains("body/many/9: "), "{e}");
    assert!(!e.contains("body/many/10:"), "{e}");
    assert!(e.contains("… and 20 more"), "{e}");
    // A schema the spec cannot resolve is a violation, never a silent pass.
    let e = check("/v1/broken", json!({})).err().unwrap_or_default();
    assert!(e.starts_with("[postBroken] body: "), "{e}");
}

/// A role set is registered as the spec's own `IAMRoleCredentials` example shows, though
/// createCredential's schema lists only four types: a body of exactly that shape passes,
/// and anything off it (a missing or extra credential, a wrong kind, an unknown type)
/// still fails on the schema's enum.
#[test]
fn role_sets_are_held_to_the_specs_example_where_it_contradicts_the_schema() {
    let spec = Spec::load_default();
    let role = |credentials: serde_json::Value, kind: &str| {
        req(
            "POST",
            "/v1/credentials/aws-x-role",
            Some(json!({
                "type": kind,
                "description": "Managed by soracom-key-rotator. roleArn=arn:aws:iam::1:role/r",
                "credentials": credentials,
            })),
        )
    };
    let good = role(
        json!({"roleArn": "arn:aws:iam::111122223333:role/r", "externalId": "abc"}),
        "aws-iam-role-credentials",
    );
    assert_eq!(
        spec.check(&good.as_request()),
        Ok("createCredential".to_string())
    );
    for (bad, why) in [
        (
            role(json!({"roleArn": "arn"}), "aws-iam-role-credentials"),
            "missing externalId",
        ),
        (
            role(
                json!({"roleArn": "arn", "externalId": "e", "secretAccessKey": "s"}),
                "aws-iam-role-credentials",
            ),
            "an extra credential",
        ),
        (
            role(
                json!({"roleArn": "arn", "externalId": 7}),
                "aws-iam-role-credentials",
            ),
            "a number",
        ),
        (
            role(json!({"roleArn": "arn", "externalId": "e"}), "aws-role"),
            "an unknown type",
        ),
    ] {
        let verdict = spec.check(&bad.as_request());
        let Err(v) = verdict else {
            panic!("{why}: accepted")
        };
        assert!(v.reason.contains("/type"), "{why}: {v}");
    }
}
