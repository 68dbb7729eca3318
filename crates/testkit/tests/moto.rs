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
