//! The AWS fault proxy with the real SDK against moto.

use std::time::Duration;

use aws_sdk_iam::config::retry::RetryConfig;
use aws_sdk_iam::error::ProvideErrorMetadata;
use testkit::aws_proxy::{AwsFault, AwsFaultKind, AwsProxy};
use testkit::moto::{self, Iam};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// An IAM client through the proxy, with the SDK's retries off so each call is one attempt.
async fn iam_without_retries(proxy: &AwsProxy) -> aws_sdk_iam::Client {
    let conf = moto::sdk_config(&proxy.endpoint()).await;
    let conf = aws_sdk_iam::config::Builder::from(&conf)
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_iam::Client::from_conf(conf)
}

async fn start() -> Result<(AwsProxy, Iam), Box<dyn std::error::Error>> {
    let proxy = AwsProxy::start(&moto::endpoint()).await?;
    let direct = Iam::from_env().await;
    Ok((proxy, direct))
}

#[tokio::test]
async fn forwards_and_records_calls() -> TestResult {
    let (proxy, direct) = start().await?;
    let via = Iam::connect(&proxy.endpoint()).await;
    let user = moto::unique("tk-proxy-fwd");
    via.create_user(&user).await?;
    let (id, secret) = via.create_access_key(&user).await?;
    // The state changed upstream: moto itself sees the key.
    let keys = direct.list_keys(&user).await?;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].id, id);
    // STS goes through the same endpoint, signed with the new key.
    let arn = via.use_key(&id, &secret).await?;
    assert!(arn.ends_with(&format!(":user/{user}")), "{arn}");

    let calls = proxy.calls();
    let actions: Vec<&str> = calls.iter().map(|c| c.action.as_str()).collect();
    assert_eq!(
        actions,
        ["CreateUser", "CreateAccessKey", "GetCallerIdentity"]
    );
    assert!(calls.iter().all(|c| c.status == 200 && c.fault.is_none()));
    assert_eq!(
        calls[0].access_key_id.as_deref(),
        Some(moto::TEST_ACCESS_KEY_ID)
    );
    assert_eq!(calls[2].access_key_id.as_deref(), Some(id.as_str()));
    let counts = proxy.call_counts();
    assert_eq!(counts.get("CreateUser"), Some(&1));
    assert_eq!(counts.get("GetCallerIdentity"), Some(&1));
    proxy.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn each_error_kind_reaches_the_sdk() -> TestResult {
    let (proxy, direct) = start().await?;
    let iam = iam_without_retries(&proxy).await;
    let user = moto::unique("tk-proxy-err");
    direct.create_user(&user).await?;
    let cases = [
        (AwsFaultKind::InternalError, 500, "InternalFailure"),
        (AwsFaultKind::Throttling, 400, "Throttling"),
        (AwsFaultKind::AccessDenied, 403, "AccessDenied"),
        (AwsFaultKind::LimitExceeded, 409, "LimitExceeded"),
        (AwsFaultKind::NoSuchEntity, 404, "NoSuchEntity"),
    ];
    for (kind, status, code) in cases {
        proxy.clear_faults();
        proxy.add_fault(AwsFault::always("CreateAccessKey", kind));
        let err = iam
            .create_access_key()
            .user_name(&user)
            .send()
            .await
            .err()
            .ok_or(format!("{kind:?}: call succeeded"))?;
        assert_eq!(err.code(), Some(code), "{kind:?}: {err:?}");
        assert!(err.message().is_some_and(|m| m.contains(code)), "{kind:?}");
        let raw = err.raw_response().map(|r| r.status().as_u16());
        assert_eq!(raw, Some(status), "{kind:?}");
        let last = proxy.calls().pop().ok_or("no call recorded")?;
        assert_eq!((last.status, last.fault), (status, Some(kind)));
    }
    // The upstream was never called: no key exists.
    assert!(direct.list_keys(&user).await?.is_empty());
    proxy.shutdown().await;
    Ok(())
}

/// An error whose body the SDK cannot read (a proxy's HTML page) reaches the tool as one
/// line: the operation, the HTTP status, that the body could not be read, and the request
/// id when the answer carries one; never the SDK's debug structure or the body itself.
#[tokio::test]
async fn an_unparseable_error_is_one_line_through_the_iam_port() -> TestResult {
    use rotator::IamApi;
    let (proxy, direct) = start().await?;
    let user = moto::unique("tk-proxy-garbage");
    direct.create_user(&user).await?;
    let iam = rotator::AwsIam::new(moto::sdk_config(&proxy.endpoint()).await);
    for status in [400, 403] {
        proxy.clear_faults();
        proxy.add_fault(AwsFault::always(
            "ListAccessKeys",
            AwsFaultKind::Unparseable(status),
        ));
        let err = iam.list_keys(&user).await.err().ok_or("call succeeded")?;
        let text = format!("{err:#}");
        assert_eq!(
            text,
            format!(
                "AWS ListAccessKeys: HTTP {status}, an error body the SDK could not read \
                 (request id unparseable-{status})"
            )
        );
        for dump in [
            "SdkBody",
            "Error {",
            "<html",
            "upstream said no",
            "Unhandled",
        ] {
            assert!(!text.contains(dump), "{dump}: {text}");
        }
        assert!(!err.is_retryable(), "{status}: {text}");
    }
    // A readable AWS error keeps its code and message, and names the request.
    proxy.clear_faults();
    proxy.add_fault(AwsFault::always(
        "ListAccessKeys",
        AwsFaultKind::AccessDenied,
    ));
    let err = iam.list_keys(&user).await.err().ok_or("call succeeded")?;
    assert_eq!(
        format!("{err:#}"),
        "AWS ListAccessKeys: AccessDenied: injected by testkit::aws_proxy: AccessDenied \
         (request id testkit-aws-proxy-fault)"
    );
    proxy.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn drop_closes_without_calling_upstream() -> TestResult {
    let (proxy, direct) = start().await?;
    let iam = iam_without_retries(&proxy).await;
    let user = moto::unique("tk-proxy-drop");
    direct.create_user(&user).await?;
    proxy.add_fault(AwsFault::always("CreateAccessKey", AwsFaultKind::Drop));
    let err = iam
        .create_access_key()
        .user_name(&user)
        .send()
        .await
        .err()
        .ok_or("dropped call succeeded")?;
    assert!(
        err.raw_response().is_none(),
        "no response expected: {err:?}"
    );
    assert!(direct.list_keys(&user).await?.is_empty());
    let last = proxy.calls().pop().ok_or("no call recorded")?;
    assert_eq!((last.status, last.fault), (0, Some(AwsFaultKind::Drop)));
    proxy.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn succeed_then_drop_changes_state_but_client_fails() -> TestResult {
    let (proxy, direct) = start().await?;
    let iam = iam_without_retries(&proxy).await;
    let user = moto::unique("tk-proxy-std");
    direct.create_user(&user).await?;
    proxy.add_fault(AwsFault::next(
        "CreateAccessKey",
        1,
        AwsFaultKind::SucceedThenDrop,
    ));
    let err = iam
        .create_access_key()
        .user_name(&user)
        .send()
        .await
        .err()
        .ok_or("call succeeded")?;
    assert!(err.raw_response().is_none(), "{err:?}");
    // The key was created all the same; its secret is lost.
    assert_eq!(direct.list_keys(&user).await?.len(), 1);
    // The fault is used up: the next call goes through.
    iam.create_access_key().user_name(&user).send().await?;
    assert_eq!(direct.list_keys(&user).await?.len(), 2);
    let statuses: Vec<u16> = proxy.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, [0, 200]);
    proxy.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn nth_and_times_count_matching_calls_only() -> TestResult {
    let (proxy, direct) = start().await?;
    let iam = iam_without_retries(&proxy).await;
    let user = moto::unique("tk-proxy-nth");
    direct.create_user(&user).await?;
    proxy.add_fault(AwsFault {
        action: "ListAccessKeys".into(),
        nth: 2,
        times: 2,
        kind: AwsFaultKind::AccessDenied,
    });
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        // Calls of another action neither fail nor count.
        iam.get_user().user_name(&user).send().await?;
        let ok = iam.list_access_keys().user_name(&user).send().await.is_ok();
        outcomes.push(ok);
    }
    assert_eq!(outcomes, [true, false, false, true, true]);
    assert_eq!(proxy.call_counts().get("ListAccessKeys"), Some(&5));
    assert_eq!(proxy.call_counts().get("GetUser"), Some(&5));

    // "*" matches every action; times = 0 means forever.
    proxy.add_fault(AwsFault::always("*", AwsFaultKind::NoSuchEntity));
    for _ in 0..3 {
        let err = iam.get_user().user_name(&user).send().await.err();
        assert_eq!(err.as_ref().and_then(|e| e.code()), Some("NoSuchEntity"));
    }
    proxy.clear_faults();
    iam.get_user().user_name(&user).send().await?;
    proxy.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn sdk_retries_absorb_one_transient_fault_but_not_three() -> TestResult {
    let (proxy, direct) = start().await?;
    let conf = moto::sdk_config(&proxy.endpoint()).await;
    let conf = aws_sdk_iam::config::Builder::from(&conf)
        .retry_config(RetryConfig::standard().with_initial_backoff(Duration::from_millis(10)))
        .build();
    let iam = aws_sdk_iam::Client::from_conf(conf);
    let user = moto::unique("tk-proxy-retry");
    direct.create_user(&user).await?;

    proxy.add_fault(AwsFault::next("GetUser", 1, AwsFaultKind::InternalError));
    iam.get_user().user_name(&user).send().await?;
    assert_eq!(proxy.call_counts().get("GetUser"), Some(&2));

    proxy.add_fault(AwsFault::next("GetUser", 3, AwsFaultKind::Throttling));
    let err = iam.get_user().user_name(&user).send().await.err();
    assert_eq!(err.as_ref().and_then(|e| e.code()), Some("Throttling"));
    assert_eq!(proxy.call_counts().get("GetUser"), Some(&5));

    // A dropped connection is retried too; after SucceedThenDrop the retry meets the
    // changed state (here: a second key).
    proxy.add_fault(AwsFault::next("GetUser", 1, AwsFaultKind::Drop));
    iam.get_user().user_name(&user).send().await?;
    assert_eq!(proxy.call_counts().get("GetUser"), Some(&7));
    proxy.add_fault(AwsFault::next(
        "CreateAccessKey",
        1,
        AwsFaultKind::SucceedThenDrop,
    ));
    iam.create_access_key().user_name(&user).send().await?;
    assert_eq!(proxy.call_counts().get("CreateAccessKey"), Some(&2));
    assert_eq!(direct.list_keys(&user).await?.len(), 2);
    proxy.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn malformed_requests_get_an_answer_not_a_panic() -> TestResult {
    let (proxy, direct) = start().await?;
    let addr = proxy.endpoint().trim_start_matches("http://").to_string();
    for garbage in [
        &b"garbage\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\ncontent-length: nope\r\n\r\n",
        b"POST / HTTP/1.1\r\nno colon here\r\n\r\n",
        b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        b"\xff\xfe / HTTP/1.1\r\n\r\n",
    ] {
        let mut s = tokio::net::TcpStream::connect(&addr).await?;
        s.write_all(garbage).await?;
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut answer)).await??;
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("HTTP/1.1 4") || answer.starts_with("HTTP/1.1 5"),
            "{answer}"
        );
    }
    // A client that connects and leaves.
    drop(tokio::net::TcpStream::connect(&addr).await?);
    // Still serving.
    let user = moto::unique("tk-proxy-bad");
    Iam::connect(&proxy.endpoint())
        .await
        .create_user(&user)
        .await?;
    assert!(direct.user_arn(&user).await?.contains(&user));
    proxy.shutdown().await;
    Ok(())
}
