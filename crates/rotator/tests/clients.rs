//! What [`rotator::invoke`] needs beside the ports, for the tests that run it in-process:
//! one SORACOM operator's endpoint and AuthKey, and a notifier that sends nothing.

use std::future::Future;
use std::pin::Pin;

use rotator::{Deliver, Delivery, Error, SoracomAccess};
use rotator_core::config::{NotifySettings, SoracomOverride};
use rotator_core::endpoint::{AuthKey, Endpoint};
use rotator_core::notify::Notice;

/// Every target's SORACOM operator: this endpoint, this AuthKey.
pub struct Operator(pub Endpoint, pub AuthKey);

impl SoracomAccess for Operator {
    async fn credentials(&self, _: &SoracomOverride) -> Result<(Endpoint, AuthKey), Error> {
        Ok((self.0.clone(), self.1.clone()))
    }
}

/// Notices go nowhere (the tests configure no `[notify]`).
pub struct Silent;

impl Deliver for Silent {
    fn deliver<'a>(
        &'a self,
        _: &'a NotifySettings,
        notices: &'a [Notice],
    ) -> Pin<Box<dyn Future<Output = (Delivery, Vec<bool>)> + Send + 'a>> {
        let none = Delivery { sent: 0, failed: 0 };
        Box::pin(async move { (none, vec![false; notices.len()]) })
    }
}
