//! The moto helper against the moto that `scripts/with-moto` starts.

use testkit::moto::{self, Iam};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[tokio::test]
async fn keys_life_cycle_and_last_use() -> TestResult {
    let iam = Iam::from_env().await;
    let user = moto::unique("tk-moto");
    iam.create_user(&user).await?;
    assert!(iam
        .user_arn(&user)
        .await?
        .ends_with(&format!(":user/{user}")));

    let (id1, secret1) = iam.create_access_key(&user).await?;
    let (id2, _secret2) = iam.create_access_key(&user).await?;
    assert_eq!(secret1.len(), 40);
    let third = iam.create_access_key(&user).await;
    assert!(
        third
            .as_ref()
            .is_err_and(|e| e.message.contains("LimitExceeded")),
        "moto enforces 2 keys per user: {third:?}"
    );

    let keys = iam.list_keys(&user).await?;
    let ids: Vec<&str> = keys.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, [id1.as_str(), id2.as_str()]);
    assert!(keys.iter().all(|k| k.status == "Active"));

    iam.set_key_status(&user, &id1, false).await?;
    let keys = iam.list_keys(&user).await?;
    assert_eq!(keys[0].status, "Inactive");
    assert_eq!(keys[1].status, "Active");

    assert_eq!(iam.last_used(&id1).await?, None);
    let arn = iam.use_key(&id1, &secret1).await?;
    assert!(arn.ends_with(&format!(":user/{user}")), "{arn}");
    let (when, service, region) = iam.last_used(&id1).await?.ok_or("no last use recorded")?;
    assert_eq!((service.as_str(), region.as_str()), ("sts", "us-east-1"));
    assert!(when <= std::time::SystemTime::now() + std::time::Duration::from_secs(5));

    iam.delete_access_key(&user, &id1).await?;
    assert_eq!(iam.list_keys(&user).await?.len(), 1);
    Ok(())
}

#[test]
fn unique_names_differ() {
    let a = moto::unique("x");
    let b = moto::unique("x");
    assert_ne!(a, b);
    assert!(a.starts_with("x-"));
}

/// The fact the multi-account tests rest on: moto answers `AssumeRole` for a role ARN in
/// any account id, and calls signed with those credentials land in that account, whose
/// users the default account does not see.
#[tokio::test]
async fn assumed_roles_reach_their_own_account() -> TestResult {
    let endpoint = moto::endpoint();
    let hub = Iam::connect(&endpoint).await;
    let sts = aws_sdk_sts::Client::new(hub.config());
    let role = format!("arn:aws:iam::222233334444:role/{}", moto::unique("spoke"));
    let out = sts
        .assume_role()
        .role_arn(&role)
        .role_session_name("tk-moto")
        .external_id("ext")
        .send()
        .await?;
    let c = out
        .credentials()
        .ok_or("AssumeRole returned no credentials")?;
    let creds = aws_sdk_iam::config::Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "tk-moto",
    );
    let spoke = Iam::from_config(
        hub.config()
            .clone()
            .into_builder()
            .credentials_provider(aws_sdk_iam::config::SharedCredentialsProvider::new(creds))
            .build(),
    );
    let user = moto::unique("tk-spoke");
    spoke.create_user(&user).await?;
    assert!(spoke.user_arn(&user).await?.contains(":222233334444:"));
    assert!(
        hub.user_arn(&user).await.is_err(),
        "a user of the spoke account is visible from the default one"
    );
    Ok(())
}
