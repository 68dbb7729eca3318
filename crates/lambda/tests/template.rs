//! deploy/template.yaml: the function's role grants exactly `rotator::policy::IAM` on the
//! target users plus the function's own needs, and the rest of the deployment is there
//! (runtime, schedule and deadline alarm per target, errors alarm, log retention, the rule
//! that sends exposed-key events to the function). cfn-lint runs in scripts/test.

use std::collections::BTreeSet;

use serde_norway::Value;

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/template.yaml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(s) => s.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn the_role_grants_the_policy_lists_and_only_the_functions_own_needs() {
    let t = template();
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
    let expected: BTreeSet<String> = rotator::policy::IAM
        .iter()
        .map(|p| p.name.to_string())
        .collect();
    assert_eq!(
        iam, expected,
        "IAM actions differ from rotator::policy::IAM"
    );
    assert_eq!(resource["Ref"].as_str(), Some("TargetIamUserArns"));

    let own = [
        (
            "ReadAndRotateTheSoracomAuthKey",
            &[
                "secretsmanager:GetSecretValue",
                "secretsmanager:PutSecretValue",
            ][..],
        ),
        ("ReadTheConfiguration", &["ssm:GetParameter"][..]),
        ("Notify", &["sns:Publish"][..]),
        ("Logs", &["logs:CreateLogStream", "logs:PutLogEvents"][..]),
    ];
    for (sid, actions) in own {
        let (got, resource) = by_sid(sid);
        let want: BTreeSet<String> = actions.iter().map(|a| a.to_string()).collect();
        assert_eq!(got, want, "{sid}");
        assert!(
            !matches!(&resource, Value::String(s) if s == "*"),
            "{sid} must be scoped to its resource"
        );
    }
    let count = statements.as_sequence().map(|s| s.len()).unwrap_or(0);
    assert_eq!(count, own.len() + 1, "no other statement");
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
    use rotator::config::settings::DEADLINE_MARGIN_DAYS;
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
