//! `soracom-key-rotator rotate-soracom-key`: the binary replaces the AuthKey in the
//! soracom-cli profile (mode 0600 kept), the new key works for the next command, and a key
//! given in the environment is refused as a usage error.

use crate::common::{World, AUTH_KEY, AUTH_KEY_ID};

#[tokio::test(start_paused = true)]
async fn rotates_the_profile_key_and_the_next_run_logs_in_with_it() {
    let w = World::new().await;
    let dir = w.dir.path().join(".soracom");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let profile = dir.join("default.json");
    std::fs::write(
        &profile,
        format!(r#"{{"coverageType":"jp","authKeyId":"{AUTH_KEY_ID}","authKey":"{AUTH_KEY}"}}"#),
    )
    .expect("write profile");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&profile, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }

    let refused = w.run(&["rotate-soracom-key"]).await;
    assert_eq!(refused.code, 2, "{refused:?}");

    let run = w.run_without_env_key(&["rotate-soracom-key"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("old key deleted"), "{}", run.stdout);
    assert!(
        !run.stdout.contains(AUTH_KEY_ID),
        "key ids are masked: {}",
        run.stdout
    );
    let text = std::fs::read_to_string(&profile).expect("profile");
    assert!(!text.contains(AUTH_KEY_ID), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&profile).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
    }
    assert_eq!(w.emu.auth_key_ids().len(), 1);

    let plan = w.run_without_env_key(&["plan"]).await;
    assert_eq!(plan.code, 0, "{plan:?}");
    w.assert_contract();
    w.assert_no_secret();
    w.assert_policy_covers_calls();
}
