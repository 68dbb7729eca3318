//! The SORACOM side: the [`SoracomApi`] port, its HTTP client, and where credentials come from.
//!
//! The port covers what rotation needs: credential sets, groups (paged) and their
//! configuration, and event handlers. [`client::SoracomClient`] implements it over
//! reqwest with one function mapping status and body to errors, bounded retries and
//! rate-limit handling; [`auth`] finds the auth key (environment or soracom-cli profile);
//! `profile` reads and writes the soracom-cli profile; `paging` walks every page of a
//! paged list, bounded.

use std::future::Future;

use serde_json::Value;

use crate::error::Result;
use rotator_core::model::CredentialSet;
pub(crate) use rotator_core::model::{Group, LogEntry};
use rotator_core::secret::{NewAccessKey, Secret};

pub mod auth;
pub(crate) mod client;
mod limiter;
pub(crate) mod paging;
pub(crate) mod profile;
pub mod transport;

pub(crate) use auth::{AuthKey, Endpoint};
pub use client::{Identity, SoracomClient};
pub use transport::{Http, Transport};

use std::sync::Arc;

use rotator_core::config::SoracomSettings;

use crate::clock::Clock;

/// Makes SORACOM clients for an endpoint and an AuthKey: over HTTP in production
/// ([`HttpDial`]), over an in-memory transport to the emulator in tests and the simulator.
pub trait Dial: Send + Sync {
    /// The transport its clients send through.
    type Transport: Transport;
    /// A client for `endpoint` that logs in with `key` on first use.
    fn dial(
        &self,
        endpoint: &Endpoint,
        key: AuthKey,
        settings: &SoracomSettings,
    ) -> Result<SoracomClient<Self::Transport>>;
}

/// Dials over HTTP, every wait on `clock`.
#[derive(Clone)]
pub struct HttpDial {
    /// The clock of the clients' waits.
    pub clock: Arc<dyn Clock>,
}

impl Dial for HttpDial {
    type Transport = Http;

    fn dial(
        &self,
        endpoint: &Endpoint,
        key: AuthKey,
        settings: &SoracomSettings,
    ) -> Result<SoracomClient<Http>> {
        SoracomClient::new(endpoint.clone(), key, settings.clone(), self.clock.clone())
    }
}
pub(crate) use paging::{Pager, Walk};

/// One page of groups.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupPage {
    /// Groups on this page.
    pub groups: Vec<Group>,
    /// Key for the next page (`x-soracom-next-key` or `Link rel=next`); `None` on the last
    /// page.
    pub next: Option<String>,
}

/// One page of virtual private gateways, as the API shows them.
#[derive(Clone, Debug, PartialEq)]
pub struct VpgPage {
    /// VPGs on this page (`VirtualPrivateGateway` objects).
    pub vpgs: Vec<Value>,
    /// Key for the next page (`x-soracom-next-key` or `Link rel=next`); `None` on the last
    /// page.
    pub next: Option<String>,
}

/// One page of error logs (`getLogs`).
#[derive(Clone, Debug, PartialEq)]
pub struct LogPage {
    /// Entries on this page (`LogEntry` objects).
    pub entries: Vec<LogEntry>,
    /// Key for the next page (`x-soracom-next-key`); `None` on the last page.
    pub next: Option<String>,
}

/// The SORACOM operations the rotator needs.
pub trait SoracomApi: Send + Sync {
    /// All credential sets (`listCredentials`; not paged).
    fn list_credentials(&self) -> impl Future<Output = Result<Vec<CredentialSet>>> + Send;
    /// Creates an `aws-credentials` set holding `key` (`createCredential`). Not retried on
    /// an ambiguous failure: the caller lists, then decides.
    fn create_credential(
        &self,
        id: &str,
        description: &str,
        key: &NewAccessKey,
    ) -> impl Future<Output = Result<CredentialSet>> + Send;
    /// Replaces the key an existing `aws-credentials` set holds (`updateCredential`);
    /// every reference switches at once. Idempotent.
    fn update_credential(
        &self,
        id: &str,
        description: &str,
        key: &NewAccessKey,
    ) -> impl Future<Output = Result<CredentialSet>> + Send;
    /// Creates an `aws-iam-role-credentials` set naming `role_arn` with `external_id`
    /// (`createCredential`, credentials `roleArn` and `externalId`). Not retried on an
    /// ambiguous failure: the caller lists, then decides.
    fn create_role_credential(
        &self,
        id: &str,
        description: &str,
        role_arn: &str,
        external_id: &Secret,
    ) -> impl Future<Output = Result<CredentialSet>> + Send;
    /// Deletes a set (`deleteCredential`); a set already gone is not an error.
    fn delete_credential(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// One page of groups (`listGroups`), after `after` (the previous page's next key).
    fn list_groups(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<GroupPage>> + Send;
    /// Replaces one top-level key of a group's namespace (`putConfigurationParameters`);
    /// returns the group as the response shows it.
    fn put_group_config(
        &self,
        group_id: &str,
        namespace: &str,
        key: &str,
        value: &Value,
    ) -> impl Future<Output = Result<Group>> + Send;
    /// All event handlers (`listEventHandlers`).
    fn list_event_handlers(&self) -> impl Future<Output = Result<Vec<Value>>> + Send;
    /// One event handler as it is now (`getEventHandler`).
    fn get_event_handler(&self, handler_id: &str) -> impl Future<Output = Result<Value>> + Send;
    /// One virtual private gateway as it is now (`getVirtualPrivateGateway`); its
    /// `inspection` is the Junction inspection configuration.
    fn get_vpg(&self, vpg_id: &str) -> impl Future<Output = Result<Value>> + Send;
    /// Replaces an event handler (`updateEventHandler`); `body` is the handler without its id.
    fn update_event_handler(
        &self,
        handler_id: &str,
        body: &Value,
    ) -> impl Future<Output = Result<()>> + Send;
    /// One page of virtual private gateways (`listVirtualPrivateGateways`), after `after`.
    fn list_vpgs(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<VpgPage>> + Send;
    /// Replaces a VPG's Junction inspection configuration (`setInspectionConfiguration`),
    /// whose `report` is a Funnel configuration with a `credentialsId`.
    fn set_inspection(
        &self,
        vpg_id: &str,
        inspection: &Value,
    ) -> impl Future<Output = Result<()>> + Send;
    /// One page of at most `limit` of `service`'s error logs since `from` (`getLogs`),
    /// after `after`.
    fn list_logs(
        &self,
        service: &str,
        from: time::OffsetDateTime,
        after: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<LogPage>> + Send;
}
