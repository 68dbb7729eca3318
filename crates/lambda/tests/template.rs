//! The two deployment templates. deploy/template.yaml (plain CloudFormation): the function's
//! role grants exactly `rotator_core::policy::IAM` on the target users plus the function's own
//! needs, and the rest of the deployment is there (runtime, schedule and deadline alarm per
//! target, errors alarm, log retention, the rule that sends exposed-key events to the
//! function). template.yaml (SAM, one target): the same role and deployment, a cargo-lambda
//! build of the `bootstrap` binary for arm64 or x86_64, and a configuration rendered from
//! its parameters that the function reads as it is and runs with. cfn-lint (both) and
//! `sam validate --lint` (SAM) run in scripts/test.

use std::collections::{BTreeMap, BTreeSet};

use rotator_core::config::settings::{DEADLINE_MARGIN_DAYS, MAX_KEY_AGE_DAYS};
use serde_json::json;
use serde_norway::Value;

fn load(relative: &str) -> Value {
    let path = format!("{}/../../{relative}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// deploy/template.yaml, for plain CloudFormation.
fn template() -> Value {
    load("deploy/template.yaml")
}

/// template.yaml, for `sam build && sam deploy --guided`.
fn sam() -> Value {
    load("template.yaml")
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(s) => s.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// The role's statements: the IAM actions are exactly `rotator_core::policy::IAM` on `users`,
/// then the function's own needs, each scoped to its resource (`ssm:GetParameter` only where
/// the configuration is read from SSM).
fn assert_least_privilege(t: &Value, users: &Value, reads_ssm: bool) {
    let statements =
        &t["Resources"]["FunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"];
    let by_sid = |sid: &str| -> (BTreeSet<String>, Value) {
        let s = statements
            .as_sequence()
            .into_iter()
            .flatten()
            .find(|s| s["Sid"].as_str() == Some(sid))
            .unwrap_or_else(|| panic!("no statement {sid}"));
        assert_eq!(s["Effect"].as_str(), Some("Allow"));
        (
            strings(&s["Action"]).into_iter().collect(),
            s["Resource"].clone(),
        )
    };

    let (iam, resource) = by_sid("RotateSoracomKeys");
    let expected: BTreeSet<String> = rotator_core::policy::IAM
        .iter()
        .map(|p| p.name.to_string())
        .collect();
    assert_eq!(
        iam, expected,
        "IAM actions differ from rotator_core::policy::IAM"
    );
    assert_eq!(&resource, users);

    let mut own = vec![
        (
            "ReadAndRotateTheSoracomAuthKey",
            &[
                "secretsmanager:GetSecretValue",
                "secretsmanager:PutSecretValue",
            ][..],
        ),
        ("Notify", &["sns:Publish"][..]),
        ("Logs", &["logs:CreateLogStream", "logs:PutLogEvents"][..]),
    ];
    if reads_ssm {
        own.push(("ReadTheConfiguration", &["ssm:GetParameter"][..]));
    }
    for (sid, actions) in &own {
        let (got, resource) = by_sid(sid);
        let want: BTreeSet<String> = actions.iter().map(|a| a.to_string()).collect();
        assert_eq!(got, want, "{sid}");
        assert!(
            !matches!(&resource, Value::String(s) if s == "*"),
            "{sid} must be scoped to its resource"
        );
    }
    // Targets in other accounts and of other operators: sts:AssumeRole on exactly the
    // listed roles, secretsmanager:GetSecretValue on exactly the listed secrets, each
    // statement there only when its list is not empty.
    for (condition, sid, action, list) in [
        (
            "HasTargetRoles",
            "AssumeTargetRoles",
            "sts:AssumeRole",
            "TargetRoleArns",
        ),
        (
            "HasTargetSoracomSecrets",
            "ReadOtherOperatorsAuthKeys",
            "secretsmanager:GetSecretValue",
            "TargetSoracomSecretArns",
        ),
    ] {
        let s = statements
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|s| s["Fn::If"].as_sequence())
            .find(|f| f[0].as_str() == Some(condition))
            .unwrap_or_else(|| panic!("no statement under {condition}"));
        assert_eq!(s[1]["Sid"].as_str(), Some(sid));
        assert_eq!(s[1]["Effect"].as_str(), Some("Allow"));
        assert_eq!(strings(&s[1]["Action"]), [action]);
        assert_eq!(s[1]["Resource"]["Ref"].as_str(), Some(list), "{sid}");
        assert_eq!(s[2]["Ref"].as_str(), Some("AWS::NoValue"));
        assert_eq!(
            t["Parameters"][list]["Type"].as_str(),
            Some("CommaDelimitedList")
        );
        assert_eq!(t["Parameters"][list]["Default"].as_str(), Some(""));
    }
    let count = statements.as_sequence().map(|s| s.len()).unwrap_or(0);
    assert_eq!(count, own.len() + 3, "no other statement");
}

#[test]
fn the_role_grants_the_policy_lists_and_only_the_functions_own_needs() {
    let users: Value = serde_norway::from_str("Ref: TargetIamUserArns").expect("yaml");
    assert_least_privilege(&template(), &users, true);
    // The SAM quick start: its one user, by path and name; no SSM parameter to read.
    let user: Value = serde_norway::from_str(
        "Fn::Sub: arn:${AWS::Partition}:iam::${AWS::AccountId}:user${IamUserPath}${IamUserName}",
    )
    .expect("yaml");
    assert_least_privilege(&sam(), &user, false);
}

#[test]
fn the_deployment_has_runtime_schedule_alarm_and_retention() {
    let t = template();
    let r = &t["Resources"];
    let f = &r["Function"]["Properties"];
    assert_eq!(f["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(f["Handler"].as_str(), Some("bootstrap"));
    let env = &f["Environment"]["Variables"];
    assert!(env["SORACOM_AUTH_SECRET_ID"]["Ref"].as_str().is_some());
    assert!(env["ROTATOR_CONFIG_PARAMETER"]["Ref"].as_str().is_some());
    for secret_var in ["SORACOM_AUTH_KEY", "SORACOM_AUTH_KEY_ID"] {
        assert!(
            env[secret_var].is_null(),
            "{secret_var} must not be in the template"
        );
    }
    let each = &r["Fn::ForEach::Targets"];
    let schedule = &each[2]["Schedule&{TargetName}"];
    assert_eq!(schedule["Type"].as_str(), Some("AWS::Scheduler::Schedule"));
    assert_eq!(
        schedule["Properties"]["Target"]["Input"]["Fn::Sub"].as_str(),
        Some(r#"{"command":"reconcile","target":"${TargetName}"}"#)
    );
    assert_eq!(
        r["FunctionErrorsAlarm"]["Properties"]["MetricName"].as_str(),
        Some("Errors")
    );
    assert!(r["FunctionLogGroup"]["Properties"]["RetentionInDays"].is_mapping());
    assert_eq!(
        r["NotificationTopic"]["Type"].as_str(),
        Some("AWS::SNS::Topic")
    );
    assert_eq!(
        r["SoracomAuthKeySecret"]["Type"].as_str(),
        Some("AWS::SecretsManager::Secret")
    );
}

/// One run at a time, and no retry of a failed or refused run by Lambda (the next schedule
/// resumes; a refusal notifies once).
#[test]
fn runs_never_overlap_and_a_failure_is_not_run_three_times() {
    let t = template();
    let f = &t["Resources"]["Function"]["Properties"];
    assert_eq!(f["ReservedConcurrentExecutions"].as_u64(), Some(1));
    let c = &t["Resources"]["FunctionInvokeConfig"];
    assert_eq!(c["Type"].as_str(), Some("AWS::Lambda::EventInvokeConfig"));
    assert_eq!(c["Properties"]["MaximumRetryAttempts"].as_u64(), Some(0));
    assert_eq!(
        c["Properties"]["FunctionName"]["Ref"].as_str(),
        Some("Function")
    );
}

/// An exposed key reaches the function: the rule's pattern is the AWS Health event the
/// handler turns into an emergency rotation, its target is the function, and EventBridge
/// may invoke it for that rule only.
#[test]
fn aws_health_exposed_key_events_invoke_the_function() {
    let t = template();
    let r = &t["Resources"];
    let rule = &r["ExposedKeyRule"];
    assert_eq!(rule["Type"].as_str(), Some("AWS::Events::Rule"));
    let pattern = &rule["Properties"]["EventPattern"];
    assert_eq!(strings(&pattern["source"]), ["aws.health"]);
    assert_eq!(strings(&pattern["detail"]["service"]), ["RISK"]);
    assert_eq!(
        strings(&pattern["detail"]["eventTypeCode"]),
        [rotator_lambda::EXPOSED]
    );
    let targets = rule["Properties"]["Targets"]
        .as_sequence()
        .expect("targets");
    assert_eq!(targets.len(), 1);
    assert_eq!(
        strings(&targets[0]["Arn"]["Fn::GetAtt"]),
        ["Function", "Arn"]
    );
    let p = &r["ExposedKeyPermission"]["Properties"];
    assert_eq!(p["Principal"].as_str(), Some("events.amazonaws.com"));
    assert_eq!(p["Action"].as_str(), Some("lambda:InvokeFunction"));
    assert_eq!(
        strings(&p["SourceArn"]["Fn::GetAtt"]),
        ["ExposedKeyRule", "Arn"]
    );
}

/// Each target has a deadline alarm on the metric the function emits, below the margin
/// (whose default is the targets' default), and a day without a figure is breaching.
#[test]
fn each_target_has_a_deadline_alarm_on_the_functions_metric() {
    use rotator_core::config::settings::DEADLINE_MARGIN_DAYS;
    let t = template();
    let margin = &t["Parameters"]["DeadlineMarginDays"];
    assert_eq!(
        margin["Default"].as_u64(),
        Some(u64::from(DEADLINE_MARGIN_DAYS.default))
    );
    assert_eq!(
        margin["MaxValue"].as_u64(),
        Some(u64::from(DEADLINE_MARGIN_DAYS.max))
    );
    let alarm = &t["Resources"]["Fn::ForEach::Targets"][2]["DeadlineAlarm&{TargetName}"];
    assert_eq!(alarm["Type"].as_str(), Some("AWS::CloudWatch::Alarm"));
    let p = &alarm["Properties"];
    assert_eq!(p["Namespace"].as_str(), Some(rotator_lambda::NAMESPACE));
    assert_eq!(p["MetricName"].as_str(), Some("DaysToDeadline"));
    assert_eq!(p["Dimensions"][0]["Name"].as_str(), Some("Target"));
    assert_eq!(
        p["Dimensions"][0]["Value"]["Ref"].as_str(),
        Some("TargetName")
    );
    assert_eq!(p["Statistic"].as_str(), Some("Minimum"));
    assert_eq!(p["Threshold"]["Ref"].as_str(), Some("DeadlineMarginDays"));
    assert_eq!(p["ComparisonOperator"].as_str(), Some("LessThanThreshold"));
    assert_eq!(p["TreatMissingData"].as_str(), Some("breaching"));
    assert_eq!(strings(&p["AlarmActions"][0]["Ref"]), ["NotificationTopic"]);
}

/// Both templates carry the dashboard: per target (found by SEARCH), the days to the
/// deadline with the alarm's margin drawn, the oldest active key's age, the keys at risk,
/// the runs failed and refused; and the function's errors. Every metric it reads is one the
/// function writes, in the function's namespace, and the body is JSON once substituted.
#[test]
fn both_templates_carry_the_dashboard_of_the_metrics_the_function_writes() {
    let written: Vec<&str> = rotator_lambda::METRICS.iter().map(|(n, _)| *n).collect();
    for (name, t) in [
        ("deploy/template.yaml", template()),
        ("template.yaml", sam()),
    ] {
        let d = &t["Resources"]["Dashboard"];
        assert_eq!(
            d["Type"].as_str(),
            Some("AWS::CloudWatch::Dashboard"),
            "{name}"
        );
        let body = d["Properties"]["DashboardBody"]["Fn::Sub"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: the body is one Fn::Sub string"));
        let substituted = body
            .replace("${AWS::Region}", "eu-west-1")
            .replace("${DeadlineMarginDays}", "3")
            .replace("${Function}", "stack-rotator");
        assert!(
            !substituted.contains("${"),
            "{name}: an unknown substitution"
        );
        let doc: serde_json::Value = serde_json::from_str(&substituted)
            .unwrap_or_else(|e| panic!("{name}: the body is not JSON: {e}"));
        let read = metric_strings(&doc);
        let ours = format!("{{{},Target}}", rotator_lambda::NAMESPACE);
        let mut searched = Vec::new();
        for expr in &read {
            if let Some(rest) = expr.strip_prefix(&format!("SEARCH('{ours} MetricName=\"")) {
                searched.push(rest.split('"').next().unwrap_or_default().to_string());
            }
        }
        for metric in &searched {
            assert!(
                written.contains(&metric.as_str()),
                "{name}: {metric} is not written"
            );
        }
        for wanted in [
            "DaysToDeadline",
            "OldestActiveKeyAgeDays",
            "KeysAtRisk",
            "RunFailed",
            "RunRefused",
        ] {
            assert!(
                searched.iter().any(|m| m == wanted),
                "{name}: no {wanted} widget"
            );
        }
        assert!(
            read.iter().any(|e| e == "Errors"),
            "{name}: no errors widget"
        );
        assert!(
            substituted.contains("\"value\": 3"),
            "{name}: the margin is not drawn"
        );
        assert!(
            t["Outputs"]["DashboardUrl"]["Value"]["Fn::Sub"]
                .as_str()
                .is_some_and(|u| u.contains("dashboards:name=${AWS::StackName}-keys")),
            "{name}: no DashboardUrl output"
        );
    }
}

/// The strings of the dashboard's `metrics` rows: metric names and dimension values, and
/// each expression row's `expression`.
fn metric_strings(doc: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    let widgets = doc["widgets"].as_array().cloned().unwrap_or_default();
    for w in widgets {
        for row in w["properties"]["metrics"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            for cell in row.as_array().cloned().unwrap_or_default() {
                match cell {
                    serde_json::Value::String(s) => out.push(s),
                    serde_json::Value::Object(o) => out.extend(
                        o.get("expression")
                            .and_then(|e| e.as_str())
                            .map(str::to_string),
                    ),
                    _ => {}
                }
            }
        }
    }
    out
}

/// The function as `sam build` builds it: cargo-lambda's build of the `bootstrap` binary of
/// the package at `CodeUri`, for `provided.al2023`, arm64 unless the parameter says x86_64.
#[test]
fn the_sam_function_is_a_cargo_lambda_build_of_bootstrap_arm64_by_default() {
    let t = sam();
    assert_eq!(t["Transform"].as_str(), Some("AWS::Serverless-2016-10-31"));
    let f = &t["Resources"]["Function"];
    assert_eq!(f["Type"].as_str(), Some("AWS::Serverless::Function"));
    assert_eq!(
        f["Metadata"]["BuildMethod"].as_str(),
        Some("rust-cargolambda")
    );
    assert_eq!(
        f["Metadata"]["BuildProperties"]["Binary"].as_str(),
        Some("bootstrap")
    );
    let p = &f["Properties"];
    assert_eq!(p["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(p["Handler"].as_str(), Some("bootstrap"));
    assert_eq!(p["Architectures"][0]["Ref"].as_str(), Some("Architecture"));
    let arch = &t["Parameters"]["Architecture"];
    assert_eq!(arch["Default"].as_str(), Some("arm64"));
    assert_eq!(strings(&arch["AllowedValues"]), ["arm64", "x86_64"]);
    // CodeUri is this crate, whose binary `bootstrap` is the function.
    let code = p["CodeUri"].as_str().expect("CodeUri");
    let manifest = format!("{}/../../{code}/Cargo.toml", env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(&manifest).unwrap_or_else(|e| panic!("{manifest}: {e}"));
    let manifest: toml::Value = toml::from_str(&manifest).expect("Cargo.toml");
    assert_eq!(
        manifest["package"]["name"].as_str(),
        Some(env!("CARGO_PKG_NAME"))
    );
    let bins = manifest["bin"].as_array().expect("[[bin]]");
    assert!(
        bins.iter().any(|b| b["name"].as_str() == Some("bootstrap")),
        "{bins:?}"
    );
    // The configuration comes from the template, not from SSM; the AuthKey from the secret.
    let env = &p["Environment"]["Variables"];
    assert!(env["ROTATOR_CONFIG_PARAMETER"].is_null());
    assert_eq!(
        env["SORACOM_AUTH_SECRET_ID"]["Ref"].as_str(),
        Some("SoracomAuthKeySecret")
    );
    for secret_var in ["SORACOM_AUTH_KEY", "SORACOM_AUTH_KEY_ID"] {
        assert!(
            env[secret_var].is_null(),
            "{secret_var} must not be in the template"
        );
    }
}

/// Both templates deploy the same thing around the function: resources, the function's
/// settings, its schedule, retries, the exposed-key rule, the deadline alarm, the shared
/// parameters and the outputs, so a fix to one that misses the other fails here.
#[test]
fn the_sam_template_deploys_what_the_plain_template_deploys() {
    let (plain, sam) = (template(), sam());
    let (pr, sr) = (&plain["Resources"], &sam["Resources"]);
    for name in [
        "SoracomAuthKeySecret",
        "NotificationTopic",
        "NotificationEmailSubscription",
        "FunctionLogGroup",
        "FunctionErrorsAlarm",
    ] {
        assert!(pr[name].is_mapping(), "{name}");
        assert_eq!(pr[name], sr[name], "{name}");
    }
    // The plain template's conditions, the same; the SAM one adds only its single target's.
    let conditions = |t: &Value| -> BTreeMap<String, Value> {
        t["Conditions"]
            .as_mapping()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.clone())))
            .collect()
    };
    let (pc, mut sc) = (conditions(&plain), conditions(&sam));
    assert!(sc.remove("HasTargetExternalId").is_some());
    assert!(!pc.is_empty());
    assert_eq!(pc, sc);
    let role = |r: &Value| r["FunctionRole"]["Properties"]["AssumeRolePolicyDocument"].clone();
    assert_eq!(role(pr), role(sr));
    let (pf, sf) = (&pr["Function"]["Properties"], &sr["Function"]["Properties"]);
    for key in [
        "FunctionName",
        "Description",
        "Runtime",
        "Handler",
        "MemorySize",
        "Timeout",
        "ReservedConcurrentExecutions",
        "Role",
        "LoggingConfig",
    ] {
        assert!(!pf[key].is_null(), "{key}");
        assert_eq!(pf[key], sf[key], "Function.{key}");
    }
    let invoke = &pr["FunctionInvokeConfig"]["Properties"];
    for key in ["MaximumRetryAttempts", "MaximumEventAgeInSeconds"] {
        assert_eq!(invoke[key], sf["EventInvokeConfig"][key], "{key}");
    }
    // The schedule: the plain template's per target, the SAM one's for its target.
    let each = &pr["Fn::ForEach::Targets"][2];
    let schedule = &each["Schedule&{TargetName}"]["Properties"];
    let daily = &sf["Events"]["Daily"];
    assert_eq!(daily["Type"].as_str(), Some("ScheduleV2"));
    let daily = &daily["Properties"];
    for key in [
        "Description",
        "ScheduleExpression",
        "ScheduleExpressionTimezone",
        "FlexibleTimeWindow",
    ] {
        assert_eq!(schedule[key], daily[key], "schedule {key}");
    }
    for key in ["Input", "RetryPolicy"] {
        assert_eq!(schedule["Target"][key], daily[key], "schedule {key}");
    }
    let exposed = &sf["Events"]["ExposedKey"];
    assert_eq!(exposed["Type"].as_str(), Some("EventBridgeRule"));
    assert_eq!(
        pr["ExposedKeyRule"]["Properties"]["EventPattern"],
        exposed["Properties"]["Pattern"]
    );
    // `Ref: TargetName` is the loop's name in one, the parameter in the other.
    assert_eq!(each["DeadlineAlarm&{TargetName}"], sr["DeadlineAlarm"]);
    for name in [
        "ScheduleExpression",
        "ScheduleTimezone",
        "LogRetentionDays",
        "NotificationEmail",
        "DeadlineMarginDays",
    ] {
        // The same type, default and range; the wording may differ (one target or many).
        let without_description = |t: &Value| {
            let mut p = t["Parameters"][name].clone();
            if let Some(m) = p.as_mapping_mut() {
                m.remove("Description");
            }
            p
        };
        assert!(plain["Parameters"][name].is_mapping(), "parameter {name}");
        assert_eq!(
            without_description(&plain),
            without_description(&sam),
            "parameter {name}"
        );
    }
    let keys = |t: &Value| -> Vec<String> {
        t["Outputs"]
            .as_mapping()
            .into_iter()
            .flatten()
            .filter_map(|(k, _)| k.as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(keys(&plain), keys(&sam));
}

/// The SAM template's `ROTATOR_CONFIG`, its `${…}` replaced from `values`, then from the
/// parameters' defaults. Panics on a `${…}` that is neither a parameter nor in `values`.
fn rendered_config(values: &[(&str, &str)]) -> String {
    let t = sam();
    let sub = &t["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
        ["ROTATOR_CONFIG"]["Fn::Sub"];
    // `Fn::Sub: [text, {variables}]`: a variable not given in `values` renders empty (the
    // `Fn::If`s of the optional parameters, whose defaults are empty).
    let text = sub[0]
        .as_str()
        .expect("ROTATOR_CONFIG is an Fn::Sub of a string and variables")
        .to_string();
    let variables: BTreeSet<String> = sub[1]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.as_str().map(str::to_string))
        .collect();
    let values: BTreeMap<&str, &str> = values.iter().copied().collect();
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let len = rest[start..].find('}').expect("closing brace");
        let name = &rest[start + 2..start + len];
        let default = &t["Parameters"][name]["Default"];
        let value = match values.get(name) {
            Some(v) => v.to_string(),
            None if variables.contains(name) => String::new(),
            None => match default {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => panic!("${{{name}}} has no value and no default"),
            },
        };
        out.push_str(&value);
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

/// The quick start's configuration is a valid configuration as rendered, with each
/// parameter where it belongs, and the numbers' ranges are the settings' ranges.
#[test]
fn the_sam_parameters_render_a_configuration_the_tool_accepts() {
    let topic = "arn:aws:sns:us-east-1:123456789012:rotator-NotificationTopic-abc";
    let text = rendered_config(&[
        ("IamUserName", "soracom-funnel-sample-user"),
        ("CredentialPrefix", "aws-soracom-funnel-sample"),
        ("NotificationTopic", topic),
        ("Coverage", "g"),
        ("MaxKeyAgeDays", "60"),
    ]);
    let config = rotator_core::Config::from_toml(&text, std::path::Path::new("ROTATOR_CONFIG"))
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let target = &config.targets[0];
    assert_eq!(config.targets.len(), 1);
    assert_eq!(
        (target.name.as_str(), target.iam_user.as_str()),
        ("funnel", "soracom-funnel-sample-user")
    );
    assert_eq!(target.prefix(), Some("aws-soracom-funnel-sample"));
    assert_eq!(target.max_key_age_days, 60);
    assert_eq!(
        target.deadline_margin_days, DEADLINE_MARGIN_DAYS.default,
        "the alarm's margin is the target's"
    );
    assert_eq!(
        config.soracom.coverage.map(|c| c.endpoint()),
        Some("https://g.api.soracom.io")
    );
    assert_eq!(config.notify.sns_topic_arn.as_deref(), Some(topic));
    let t = sam();
    for (name, setting) in [
        ("MaxKeyAgeDays", MAX_KEY_AGE_DAYS),
        ("DeadlineMarginDays", DEADLINE_MARGIN_DAYS),
    ] {
        let p = &t["Parameters"][name];
        assert_eq!(
            (
                p["Default"].as_u64(),
                p["MinValue"].as_u64(),
                p["MaxValue"].as_u64()
            ),
            (
                Some(u64::from(setting.default)),
                Some(u64::from(setting.min)),
                Some(u64::from(setting.max))
            ),
            "{name}"
        );
    }
}

/// A scheduled reconcile of the SAM quick start, as the function would run it: the rendered
/// configuration in `ROTATOR_CONFIG` (no SSM parameter), the AuthKey in Secrets Manager. Once
/// due, it rotates and moves the reference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sam_quick_start_configuration_rotates_as_rendered() {
    use crate::common::{invoke_as, World, PREFIX};
    use rotator_lambda::aws::{RuntimeConfig, SecretsManagerStore};
    let w = World::new().await;
    let first = w.seed().await;
    let text = rendered_config(&[
        ("IamUserName", &w.user),
        ("CredentialPrefix", PREFIX),
        ("NotificationTopic", &w.topic_arn),
    ]);
    let store = SecretsManagerStore::new(&w.sdk, Some(w.secret_id.clone()));
    let config = RuntimeConfig::from_vars(&w.sdk, None, Some(text));
    let event = json!({"command": "reconcile", "target": "funnel"});
    w.travel(81);
    let out = invoke_as(&w, event, &store, &config, true, &|_: &str| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out["targets"][0]["outcome"], json!("done"), "{out}");
    assert_eq!(w.key_count().await, 2);
    let group = w.emu.group_by_name("test-1").expect("group");
    let set = group["configuration"]["SoracomFunnel"]["credentialsId"]
        .as_str()
        .unwrap_or_default();
    assert!(
        set.starts_with(PREFIX) && !set.ends_with("220810"),
        "{set} after {first}"
    );
    w.wrote(&out.to_string());
    w.assert_no_secret().await;
    w.assert_contract();
}

/// With `TargetRoleArns`, the quick start's target is in that role's account: the rendered
/// configuration names the role (and `TargetExternalId`, when given), and the tool accepts
/// it. An external id without a role renders a configuration the tool refuses.
#[test]
fn the_sam_target_role_renders_into_the_configuration() {
    let role = "arn:aws:iam::222233334444:role/soracom-key-rotator";
    let line = format!("assume_role_arn = \"{role}\"");
    let id_line = "external_id = \"hub-1111:22/33_44\"";
    let base = [
        ("IamUserName", "soracom-funnel-sample-user"),
        ("CredentialPrefix", "aws-soracom-funnel-sample"),
        ("NotificationTopic", "arn:aws:sns:us-east-1:123456789012:t"),
    ];
    let parse = |extra: &[(&str, &str)]| {
        let values: Vec<(&str, &str)> = base.iter().chain(extra).copied().collect();
        let text = rendered_config(&values);
        rotator_core::Config::from_toml(&text, std::path::Path::new("ROTATOR_CONFIG"))
            .map_err(|e| format!("{e}\n{text}"))
    };
    let account = |config: &rotator_core::Config| {
        config.targets[0]
            .account
            .as_ref()
            .map(|r| (r.arn.clone(), r.external_id.clone()))
    };
    let config = parse(&[("TargetAccount", &line)]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(account(&config), Some((role.to_string(), None)));
    let config = parse(&[("TargetAccount", &line), ("TargetExternalIdLine", id_line)])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        account(&config),
        Some((role.to_string(), Some("hub-1111:22/33_44".to_string())))
    );
    let refused = parse(&[("TargetExternalIdLine", id_line)]).err();
    assert!(
        refused
            .as_deref()
            .is_some_and(|e| e.contains("external_id") && e.contains("only with")),
        "{refused:?}"
    );
    let t = sam();
    let vars = &t["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
        ["ROTATOR_CONFIG"]["Fn::Sub"][1];
    let account = &vars["TargetAccount"]["Fn::If"];
    assert_eq!(account[0].as_str(), Some("HasTargetRoles"));
    assert_eq!(
        account[1]["Fn::Sub"][0].as_str(),
        Some("assume_role_arn = \"${Role}\"")
    );
    let id = &vars["TargetExternalIdLine"]["Fn::If"];
    assert_eq!(id[0].as_str(), Some("HasTargetExternalId"));
    assert_eq!(
        id[1]["Fn::Sub"].as_str(),
        Some("external_id = \"${TargetExternalId}\"")
    );
    assert_eq!(
        t["Conditions"]["HasTargetExternalId"]["Fn::Not"][0]["Fn::Equals"][0]["Ref"].as_str(),
        Some("TargetExternalId")
    );
    // The parameter admits what `external_id` admits (2-1224 of A-Z a-z 0-9 + = , . @ : / _ -)
    // or nothing: no quote or backslash can reach the TOML.
    let p = &t["Parameters"]["TargetExternalId"];
    assert_eq!(p["Default"].as_str(), Some(""));
    assert_eq!(
        p["AllowedPattern"].as_str(),
        Some("^([A-Za-z0-9+=,.@:/_\\-]{2,1224})?$")
    );
}
