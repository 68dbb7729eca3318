//! `rotate-soracom-key` in the CLI: the AuthKey lives in the soracom-cli profile, which
//! is rewritten atomically with mode 0600. A key given in the environment cannot be
//! updated, so it is refused with a message saying what to do.

use anyhow::Context;
use rotator::soracom::auth;
use rotator::{rotate_soracom_key, ProfileStore};
use rotator_core::Config;

use crate::{usage, Failure, Output, Ran, System};

/// Runs the command; returns the exit code (1 when the old key could not be deleted).
pub(crate) async fn run<S: System>(
    config: &Config,
    output: Output,
    sys: &S,
    out: &mut Ran,
) -> Result<u8, Failure> {
    let env = |k: &str| sys.var(k).filter(|v| !v.is_empty());
    if env("SORACOM_AUTH_KEY_ID").is_some() || env("SORACOM_AUTH_KEY").is_some() {
        return Err(usage(anyhow::anyhow!(
            "rotate-soracom-key updates the soracom-cli profile, but the AuthKey comes from \
             SORACOM_AUTH_KEY_ID/SORACOM_AUTH_KEY; unset them (and keep the key in the profile)"
        )));
    }
    let home = sys.home();
    let (endpoint, _) = auth::resolve(
        &env,
        home.as_deref(),
        config.soracom.coverage,
        config.soracom.profile.as_deref(),
    )
    .map_err(|e| usage(e.into()))?;
    let store = ProfileStore::locate(&env, home.as_deref(), config.soracom.profile.as_deref())
        .map_err(|e| usage(e.into()))?;
    let done = rotate_soracom_key(sys.dial(), &endpoint, &config.soracom, &store)
        .await
        .context("rotate-soracom-key; the stored AuthKey still works")
        .map_err(|error| Failure { code: 1, error })?;
    let text = match output {
        Output::Text => done.render_text(),
        Output::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&done).unwrap_or_else(|_| "{}".into())
        ),
    };
    crate::write_stdout(out, &text)?;
    Ok(if done.old_key_deleted { 0 } else { 1 })
}
