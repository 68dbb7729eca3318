use super::*;

const GOOD: &str = r#"
[soracom]
coverage = "g"
[[targets]]
name = "funnel"
iam_user = "soracom-funnel-sample-user"
credential_prefix = "aws-soracom-funnel-sample"
[[targets]]
name = "funk"
iam_user = "funk-user"
credential_prefix = "aws-funk"
max_key_age_days = 30
adopt = ["hand-made"]
adopt_keys = { "hand-made" = "AKIAIOSFODNN7EXAMPLE" }
[[targets]]
name = "fixed"
iam_user = "fixed-user"
strategy = "in-place"
credential_id = "aws-fixed"
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, Path::new("test.toml"))
}

#[test]
fn parses_defaults_and_several_targets() {
    let c = parse(GOOD).map_err(|e| e.to_string());
    let c = match c {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(c.soracom.coverage, Some(Coverage::G));
    assert_eq!(c.soracom.page_size, 1000);
    assert_eq!(c.verify.successes, 3);
    assert_eq!(c.targets.len(), 3);
    assert_eq!(c.targets[0].settle_minutes, 60);
    assert_eq!(c.targets[2].strategy(), Strategy::InPlace);
    assert_eq!(
        c.targets[2].placement,
        Placement::Fixed {
            id: "aws-fixed".into()
        }
    );
    assert!(c.targets[2].owns("aws-fixed") && !c.targets[2].owns("aws-fixed-261128"));
    assert!(c.targets[1].owns("aws-funk-261128") && c.targets[1].owns("hand-made"));
    assert_eq!(
        c.targets[1].adopt_keys.get("hand-made").map(String::as_str),
        Some("AKIAIOSFODNN7EXAMPLE")
    );
    assert_eq!(c.targets[0].max_key_age_days, 90);
    assert_eq!(c.targets[1].max_key_age_days, 30);
    assert_eq!(c.targets[1].adopt, vec!["hand-made".to_string()]);
    assert_eq!(c.select(Some("funk")).map(|v| v.len()), Ok(1));
    assert!(c.select(Some("nope")).is_err());
    assert!(!c.notify.enabled());
    assert_eq!(c.notify.due_warning_days, 7);
}

#[test]
fn parses_the_notify_table() {
    let text = format!(
        "{GOOD}\n[notify]\nsns_topic_arn = \"arn:aws:sns:us-east-1:123456789012:rotator\"\nwebhook_url = \"https://hooks.example.com/T0/B0/tok\"\non_success = true\ndue_warning_days = 0\n"
    );
    let c = match parse(&text) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    assert!(c.notify.enabled());
    // `on_success`, from before the ladder, turns on the rungs of routine success.
    for r in [
        Rung::Rotated,
        Rung::Deactivated,
        Rung::Deleted,
        Rung::Failed,
    ] {
        assert!(c.notify.on(r), "{r:?}");
    }
    assert_eq!(c.notify.due_warning_days, 0);
    assert_eq!(
        c.notify.webhook_url.as_ref().map(|u| u.expose()),
        Some("https://hooks.example.com/T0/B0/tok")
    );
    assert!(!format!("{:?}", c.notify).contains("tok"));
}

#[test]
fn parse_errors_give_the_position_never_the_text() {
    let secret = "https://hooks.example.com/services/T0/B0/s3cr3t-token";
    for text in [
        format!("[soracom]\nwebhook_url = \"{secret}\"\n"),
        format!("[notify]\ndue_warning_days = \"{secret}\"\n"),
        format!("[notify]\nwebhook_url = \"{secret}\" extra\n"),
        format!("{secret} = 1\n"),
        format!("[[targets]]\nname = '{secret}\n"),
        "[soracom]\ncoverage = \"xoxb-123-s3cr3t\"\n".to_string(),
    ] {
        let msg = parse(&text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.contains("test.toml") && msg.contains("line "), "{msg}");
        assert!(
            !msg.contains("s3cr3t") && !msg.contains("hooks.example"),
            "{msg}"
        );
    }
    let msg = parse("[notify]\ndue_warning_days = \"x\"\n")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        msg.contains("line 2, column 20 (due_warning_days)"),
        "{msg}"
    );
}

/// A first `plan` without a configuration is told how one comes to be; a file that is
/// there but unreadable is told why.
#[test]
fn a_missing_file_names_discover_init_and_the_reference() {
    let missing = std::env::temp_dir()
        .join("soracom-key-rotator-no-such-dir")
        .join("soracom-key-rotator.toml");
    let e = Config::load(&missing).expect_err("no file").to_string();
    for word in [
        "soracom-key-rotator discover",
        "soracom-key-rotator init",
        "--config",
        "docs/configuration.md",
        "soracom-key-rotator.toml",
    ] {
        assert!(e.contains(word), "{word}: {e}");
    }
    let dir = Config::load(&std::env::temp_dir())
        .expect_err("a directory")
        .to_string();
    assert!(
        dir.contains("cannot read") && !dir.contains("init"),
        "{dir}"
    );
}

#[test]
fn errors_name_the_key_and_the_file() {
    let cases = [
        ("[soracom]\ncoverage = \"eu\"\n", "coverage"),
        ("[soracom]\nbogus = 1\n", "bogus"),
        ("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\nextra=1\n", "extra"),
        ("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\nmax_key_age_days=0\n", "targets[0].max_key_age_days"),
        ("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\nmax_key_age_days=\"x\"\n", "max_key_age_days"),
        ("[[targets]]\nname=\"a\"\niam_user=\"bad user\"\ncredential_prefix=\"p\"\n", "targets[0].iam_user"),
        ("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p/x\"\n", "targets[0].credential_prefix"),
        ("[[targets]]\nname=\"a\"\niam_user=\"u\"\n", "credential_prefix"),
        ("", "at least one"),
        ("[verify]\nsuccesses = 0\n[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n", "verify.successes"),
        ("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n[[targets]]\nname=\"a\"\niam_user=\"v\"\ncredential_prefix=\"q\"\n", "targets[1].name"),
        ("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n[[targets]]\nname=\"b\"\niam_user=\"v\"\ncredential_prefix=\"p\"\n", "targets[1].credential_prefix"),
        ("[[targets]]\nname=\"a\"\niam_user=\"u\"\nstrategy=\"in-place\"\ncredential_prefix=\"p\"\n", "targets[0].credential_id"),
        ("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\ncredential_id=\"x\"\n", "targets[0].credential_prefix"),
        ("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\nadopt_keys={\"h\"=\"nope\"}\n", "targets[0].adopt_keys.h"),
        ("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\nsettle_minutes=99999\n", "targets[0].settle_minutes"),
        ("[[targets]]\nname=\"a\"\niam_user=\"u\"\nstrategy=\"sideways\"\ncredential_prefix=\"p\"\n", "strategy"),
        ("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n[[targets]]\nname=\"b\"\niam_user=\"u\"\ncredential_prefix=\"q\"\n", "targets[1].iam_user"),
        ("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n[[targets]]\nname=\"b\"\niam_user=\"v\"\ncredential_prefix=\"q\"\nadopt=[\"p-220810\"]\n", "targets[1].adopt[0]"),
        ("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n[[targets]]\nname=\"b\"\niam_user=\"v\"\nstrategy=\"in-place\"\ncredential_id=\"p-220810\"\n", "targets[1].credential_id"),
        ("[soracom]\nprofile = \"../x\"\n[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n", "soracom.profile"),
        ("not toml =", "test.toml"),
        ("[notify]\nsns_topic = \"x\"\n[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n", "sns_topic"),
        ("[notify]\nsns_topic_arn = \"arn:aws:s3:::b\"\n[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n", "notify.sns_topic_arn"),
        ("[notify]\nwebhook_url = \"ftp://x\"\n[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n", "notify.webhook_url"),
        ("[notify]\ndue_warning_days = 999\n[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n", "notify.due_warning_days"),
    ];
    for (text, needle) in cases {
        match parse(text) {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains(needle), "{text:?} -> {msg}");
                assert!(msg.contains("test.toml"), "{msg}");
            }
        }
    }
}

/// `migrate-to-role`'s settings: defaults derived from the user and the prefix (or the
/// fixed id), never a key set's id, unique; SORACOM's account required only when asked.
/// The account a role trusts: the configured one, else the default of the coverage the
/// run reached (one of SORACOM's origins), else of the configured coverage (the target's
/// own, then `[soracom]`), else of Japan coverage, as the endpoint falls back.
#[test]
fn soracom_s_account_defaults_by_coverage_and_a_configured_one_wins() {
    use crate::config::AccountSource::{Configured, Default};
    use crate::config::Coverage::{Jp, G};
    let t = "[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n";
    let account = |text: &str, endpoint: Option<&str>| {
        let c = parse(text).unwrap_or_else(|e| panic!("{e}"));
        c.role_of(&c.targets[0], endpoint)
            .map(|r| (r.soracom_account_id, r.account_source))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let (jp, g) = ("762707677580".to_string(), "950858143650".to_string());
    assert_eq!(account(t, None), (jp.clone(), Default(Jp)));
    let emulator = Some("http://127.0.0.1:9");
    assert_eq!(account(t, emulator), (jp.clone(), Default(Jp)));
    assert_eq!(
        account(t, Some("https://g.api.soracom.io")),
        (g.clone(), Default(G))
    );
    assert_eq!(
        account(t, Some("https://api-sandbox.soracom.io")),
        (jp.clone(), Default(Jp))
    );
    let global = format!("[soracom]\ncoverage = \"g\"\n{t}");
    assert_eq!(account(&global, emulator), (g.clone(), Default(G)));
    // The API the run reached says more than the file.
    assert_eq!(
        account(&global, Some("https://api.soracom.io")),
        (jp.clone(), Default(Jp))
    );
    let own = format!("{t}soracom_coverage = \"g\"\n");
    assert_eq!(account(&own, None), (g.clone(), Default(G)));
    let own = format!("{t}soracom_endpoint = \"https://g.api.soracom.io/\"\n");
    assert_eq!(account(&own, None), (g.clone(), Default(G)));
    let set = format!("[soracom]\ncoverage = \"g\"\naws_account_id = \"111122223333\"\n{t}");
    assert_eq!(
        account(&set, Some("https://g.api.soracom.io")),
        ("111122223333".to_string(), Configured)
    );
}

#[test]
fn role_settings_have_defaults() {
    let c = match parse(GOOD) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let funnel = &c.roles.targets["funnel"];
    assert_eq!(funnel.name, "soracom-funnel-sample-user-role");
    assert_eq!(funnel.credential_id, "aws-soracom-funnel-sample-role");
    assert_eq!(c.roles.targets["fixed"].credential_id, "aws-fixed-role");
    let long = format!(
        "[soracom]\naws_account_id = \"111122223333\"\n[[targets]]\nname=\"a\"\niam_user=\"{}\"\ncredential_prefix=\"p\"\nrole_name=\"r\"\nrole_credential_id=\"p-r\"\n",
        "u".repeat(64)
    );
    let c = match parse(&long) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let role = c.role_of(&c.targets[0], None).map_err(|e| e.to_string());
    assert_eq!(
        role.map(|r| (r.role.name, r.role.credential_id, r.soracom_account_id)),
        Ok(("r".into(), "p-r".into(), "111122223333".into()))
    );
    let t = |extra: &str| {
        format!("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n{extra}")
    };
    let two = "[[targets]]\nname=\"b\"\niam_user=\"v\"\ncredential_prefix=\"q\"\n";
    for (text, needle) in [
        (
            format!("[soracom]\naws_account_id = \"12\"\n{}", t("")),
            "soracom.aws_account_id",
        ),
        (t("role_name = \"bad name\"\n"), "targets[0].role_name"),
        (
            t("role_credential_id = \"a/b\"\n"),
            "targets[0].role_credential_id",
        ),
        (
            t("role_credential_id = \"p-261128\"\n"),
            "targets[0].role_credential_id",
        ),
        (
            format!("{}{two}role_name = \"u-role\"\n", t("")),
            "targets[1].role_name",
        ),
        (
            format!("{}{two}role_credential_id = \"p-role\"\n", t("")),
            "targets[1].role_credential_id",
        ),
    ] {
        match parse(&text) {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => assert!(e.to_string().contains(needle), "{text:?} -> {e}"),
        }
    }
}

/// A target in another account or of another operator: its settings are read and
/// checked; bad ones name their key.
#[test]
fn accounts_and_operators_are_read_and_checked() {
    let t = |extra: &str| {
        format!("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n{extra}")
    };
    let ok = parse(&t(
        "assume_role_arn = \"arn:aws:iam::222233334444:role/path/r\"\nexternal_id = \"x-1\"\n\
         soracom_endpoint = \"http://127.0.0.1:9/v1\"\nsoracom_secret = \"op-b\"\n",
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let target = &ok.targets[0];
    let role = target.account.clone().unwrap_or_else(|| panic!("no role"));
    assert_eq!(role.account_id(), "222233334444");
    assert_eq!(role.session_name, DEFAULT_SESSION_NAME);
    assert_eq!(role.external_id.as_deref(), Some("x-1"));
    assert_eq!(
        target.soracom.endpoint.as_deref(),
        Some("http://127.0.0.1:9")
    );
    assert_eq!(target.soracom.secret.as_deref(), Some("op-b"));
    assert!(parse(&t(""))
        .is_ok_and(|c| c.targets[0].account.is_none() && c.targets[0].soracom.is_default()));
    for (extra, needle) in [
        (
            "assume_role_arn = \"arn:aws:iam::12:role/r\"\n",
            "targets[0].assume_role_arn",
        ),
        (
            "assume_role_arn = \"arn:aws:iam::222233334444:user/r\"\n",
            "targets[0].assume_role_arn",
        ),
        ("external_id = \"abc\"\n", "targets[0].external_id"),
        ("session_name = \"abc\"\n", "targets[0].session_name"),
        (
            "assume_role_arn = \"arn:aws:iam::222233334444:role/r\"\nsession_name = \"a b\"\n",
            "targets[0].session_name",
        ),
        (
            "assume_role_arn = \"arn:aws:iam::222233334444:role/r\"\nexternal_id = \"a\"\n",
            "targets[0].external_id",
        ),
        ("soracom_profile = \"../x\"\n", "targets[0].soracom_profile"),
        (
            "soracom_profile = \"b\"\nsoracom_coverage = \"g\"\n",
            "targets[0].soracom_profile",
        ),
        (
            "soracom_endpoint = \"http://example.com\"\n",
            "targets[0].soracom_endpoint",
        ),
        ("soracom_secret = \"a b\"\n", "targets[0].soracom_secret"),
    ] {
        let text = t(extra);
        match parse(&text) {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => assert!(e.to_string().contains(needle), "{text:?} -> {e}"),
        }
    }
}

/// A schedule that cannot deactivate the old key before its deadline is refused, and
/// the message names every key involved.
#[test]
fn impossible_schedules_are_config_errors() {
    let t = |extra: &str| {
        format!("[[targets]]\nname=\"a\"\niam_user=\"u\"\ncredential_prefix=\"p\"\n{extra}")
    };
    for extra in [
        "max_key_age_days = 90\nretire_after_days = 90\n",
        "max_key_age_days = 90\nretire_after_days = 120\n",
        "max_key_age_days = 10\nretire_after_days = 7\ndeadline_margin_days = 3\n",
        // The settle window (a week) is the grace period when it is longer.
        "max_key_age_days = 9\nretire_after_days = 1\nsettle_minutes = 10080\ndeadline_margin_days = 2\n",
        "max_key_age_days = 3\nretire_after_days = 0\ndeadline_margin_days = 3\n",
    ] {
        match parse(&t(extra)) {
            Ok(_) => panic!("accepted: {extra}"),
            Err(e) => {
                let msg = e.to_string();
                for key in [
                    "targets[0].max_key_age_days",
                    "targets[0].retire_after_days",
                    "targets[0].deadline_margin_days",
                    "test.toml",
                ] {
                    assert!(msg.contains(key), "{extra:?} -> {msg}");
                }
            }
        }
    }
    for extra in [
        "",
        "max_key_age_days = 30\nretire_after_days = 3\ndeadline_margin_days = 2\n",
        "max_key_age_days = 3\nretire_after_days = 0\nsettle_minutes = 60\ndeadline_margin_days = 1\n",
    ] {
        if let Err(e) = parse(&t(extra)) {
            panic!("refused {extra:?}: {e}");
        }
    }
}

#[test]
fn a_canary_is_read_checked_and_moves_rotation_earlier() {
    let base = "[[targets]]\nname = \"a\"\niam_user = \"u\"\ncredential_prefix = \"p\"\n";
    let c = parse(&format!("{base}[targets.canary]\n")).expect("defaults");
    let canary = c.targets[0].canary.clone().expect("canary");
    assert_eq!(canary.holders, CanaryHolders::First);
    assert_eq!((canary.min_minutes, canary.max_hours), (60, 24));
    assert_eq!(canary.without_evidence, WithoutEvidence::Hold);
    let c = parse(&format!(
        "{base}[targets.canary]\nholders = [\"g1\", \"h2\"]\nmin_minutes = 5\nmax_hours = 2\nwithout_evidence = \"proceed\"\n"
    ))
    .expect("named");
    let canary = c.targets[0].canary.clone().expect("canary");
    assert_eq!(
        canary.holders,
        CanaryHolders::Named(vec!["g1".into(), "h2".into()])
    );
    assert_eq!(canary.without_evidence, WithoutEvidence::Proceed);
    for (bad, names) in [
        (
            "min_minutes = 200\nmax_hours = 1\n",
            "targets[0].canary.min_minutes",
        ),
        ("max_hours = 0\n", "targets[0].canary.max_hours"),
        (
            "holders = [\"first\", \"g1\"]\n",
            "targets[0].canary.holders[0]",
        ),
        ("without_evidence = \"maybe\"\n", "without_evidence"),
        ("colour = 1\n", "colour"),
    ] {
        let err = parse(&format!("{base}[targets.canary]\n{bad}"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(names), "{bad:?} -> {err}");
    }
    let err = parse(
        "[[targets]]\nname = \"a\"\niam_user = \"u\"\nstrategy = \"in-place\"\ncredential_id = \"x\"\n[targets.canary]\n",
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(err.contains("targets[0].canary"), "{err}");
    // A week-long canary on a tight schedule leaves no time before the deadline.
    let err = parse(&format!(
        "{base}max_key_age_days = 12\nretire_after_days = 3\ndeadline_margin_days = 2\n[targets.canary]\nmax_hours = 168\n"
    ))
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(err.contains("targets[0].max_key_age_days"), "{err}");
}

/// The configuration reference's tables (docs/configuration.md) say what the code does:
/// every numeric setting's default and range, table by table.
#[test]
fn the_configuration_reference_matches_the_settings() {
    let readme = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/configuration.md"
    ));
    let mut table = "";
    let mut rows = std::collections::BTreeMap::new();
    for line in readme.lines() {
        let heading = line.trim();
        for t in ["soracom", "verify", "notify", "targets.canary"] {
            if heading.starts_with(&format!("`[{t}]`")) {
                table = t;
            }
        }
        if heading.starts_with("`[[targets]]`") {
            table = "targets";
        }
        if heading.starts_with("## ") {
            // A section without a table heading ends the tables of the last one.
            if !heading.contains("[notify]") {
                table = "";
            }
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if table.is_empty() || cells.len() < 4 || !cells[1].starts_with('`') {
            continue;
        }
        let key = cells[1].trim_matches('`');
        rows.insert((table, key), (cells[2].to_string(), cells[3].to_string()));
    }
    for s in settings::ALL {
        let (default, allowed) = rows.get(&(s.table, s.key)).unwrap_or_else(|| {
            panic!("docs/configuration.md has no row for {}.{}", s.table, s.key)
        });
        assert_eq!(
            default,
            &s.default.to_string(),
            "{}.{} default",
            s.table,
            s.key
        );
        assert_eq!(
            allowed,
            &format!("{}–{}", s.min, s.max),
            "{}.{} range",
            s.table,
            s.key
        );
    }
    // The settings that are not numbers have their rows too.
    for (table, key) in [
        ("soracom", "coverage"),
        ("soracom", "profile"),
        ("soracom", "aws_account_id"),
        ("targets", "role_name"),
        ("targets", "role_credential_id"),
        ("targets", "assume_role_arn"),
        ("targets", "external_id"),
        ("targets", "session_name"),
        ("targets", "soracom_profile"),
        ("targets", "soracom_coverage"),
        ("targets", "soracom_endpoint"),
        ("targets", "soracom_secret"),
    ] {
        assert!(
            rows.contains_key(&(table, key)),
            "docs/configuration.md has no row for {table}.{key}"
        );
    }
    for r in Rung::ALL {
        let key = format!("on_{}", r.name());
        let (default, allowed) = rows
            .get(&("notify", key.as_str()))
            .unwrap_or_else(|| panic!("docs/configuration.md has no row for notify.{key}"));
        assert_eq!(default, &r.default_on().to_string(), "notify.{key} default");
        assert_eq!(allowed, "true, false", "notify.{key}");
    }
}
