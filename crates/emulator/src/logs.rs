//! Error logs (`GET /v1/logs`): the entry tests emit, the order entries are listed in, and
//! the query's filter.
//!
//! Shapes follow the spec's `LogEntry` and getLogs' query parameters. Neither the spec nor
//! the facts say in which order entries come; the emulator lists newest first (ties: last
//! emitted first). That is a choice, so a client should not depend on the order.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Declares a string enum of the spec with its wire names, kept equal to serde's.
macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $wire)] $variant),+
        }

        impl $name {
            /// Every value, in the spec's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as the API writes it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }

            /// The value the API writes as `s`, if any.
            pub fn parse(s: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }
    };
}

wire_enum! {
    /// The service that wrote an entry (`LogEntry.service`, getLogs' `service`).
    LogService {
        /// SORACOM Air.
        Air => "Air",
        /// SORACOM Beam.
        Beam => "Beam",
        /// SORACOM Funk.
        Funk => "Funk",
        /// SORACOM Funnel.
        Funnel => "Funnel",
        /// SORACOM Harvest Data/Files.
        Harvest => "Harvest",
        /// SORACOM Napter.
        Napter => "Napter",
        /// SORACOM Orbit.
        Orbit => "Orbit",
        /// Unified Endpoint.
        Unified => "Unified",
    }
}

wire_enum! {
    /// The kind of resource an entry is about (`LogEntry.resourceType`, getLogs'
    /// `resource_type`).
    LogResourceType {
        /// An IoT SIM; the resource id is its IMSI.
        Subscriber => "Subscriber",
        /// An Inventory device.
        Device => "Device",
        /// A LoRaWAN device.
        LoraDevice => "LoraDevice",
        /// A Sigfox device.
        SigfoxDevice => "SigfoxDevice",
    }
}

wire_enum! {
    /// An entry's level (`LogEntry.logLevel`).
    LogLevel {
        /// `debug`.
        Debug => "debug",
        /// `error`.
        Error => "error",
        /// `warning`.
        Warning => "warning",
        /// `info`.
        Info => "info",
    }
}

/// One error log entry as a test emits it: the spec's `LogEntry` without `operatorId`,
/// which the emulator adds. In JSON (the admin API) it has the `LogEntry` field names (an
/// `operatorId` there is ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    /// The service that wrote it.
    pub service: LogService,
    /// The kind of resource it is about.
    pub resource_type: LogResourceType,
    /// The resource's id (an IMSI for a `Subscriber`).
    pub resource_id: String,
    /// When it was written, epoch ms.
    pub time: i64,
    /// Its level.
    pub log_level: LogLevel,
    /// The log itself; the spec types `body` as an object.
    pub body: Map<String, Value>,
}

impl LogEntry {
    /// The `LogEntry` JSON the API returns.
    pub(crate) fn model(&self, operator_id: &str) -> Value {
        json!({
            "operatorId": operator_id,
            "service": self.service.as_str(),
            "resourceType": self.resource_type.as_str(),
            "resourceId": self.resource_id,
            "time": self.time,
            "logLevel": self.log_level.as_str(),
            "body": self.body,
        })
    }
}

/// The storage key of an entry written at `time` as the `seq`-th: keys sort newest first,
/// and among entries of the same time the last written first. It is also the entry's
/// `last_evaluated_key`, opaque to clients.
pub(crate) fn log_key(time: i64, seq: u64) -> String {
    // i64::MAX - time spans 0..=u64::MAX for every i64, so the subtraction is done wide.
    let age = u64::try_from(i128::from(i64::MAX) - i128::from(time)).unwrap_or(u64::MAX);
    format!("{age:020}-{:020}", u64::MAX - seq)
}

/// getLogs' filter: each condition given must hold; `from` and `to` are inclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LogFilter {
    /// `service`.
    pub service: Option<LogService>,
    /// `resource_type`.
    pub resource_type: Option<LogResourceType>,
    /// `resource_id`.
    pub resource_id: Option<String>,
    /// `from`, epoch ms.
    pub from: Option<i64>,
    /// `to`, epoch ms.
    pub to: Option<i64>,
}

impl LogFilter {
    /// Whether the entry passes.
    pub fn matches(&self, e: &LogEntry) -> bool {
        self.service.is_none_or(|s| s == e.service)
            && self.resource_type.is_none_or(|t| t == e.resource_type)
            && self
                .resource_id
                .as_deref()
                .is_none_or(|id| id == e.resource_id)
            && self.from.is_none_or(|from| e.time >= from)
            && self.to.is_none_or(|to| e.time <= to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(service: LogService, id: &str, time: i64) -> LogEntry {
        LogEntry {
            service,
            resource_type: LogResourceType::Subscriber,
            resource_id: id.into(),
            time,
            log_level: LogLevel::Error,
            body: Map::new(),
        }
    }

    #[test]
    fn wire_names_match_serde() {
        for s in LogService::ALL {
            assert_eq!(serde_json::to_value(s).ok(), Some(json!(s.as_str())));
            assert_eq!(LogService::parse(s.as_str()), Some(*s));
        }
        for t in LogResourceType::ALL {
            assert_eq!(serde_json::to_value(t).ok(), Some(json!(t.as_str())));
        }
        for l in LogLevel::ALL {
            assert_eq!(serde_json::to_value(l).ok(), Some(json!(l.as_str())));
        }
        assert_eq!(LogService::ALL.len(), 8);
        assert_eq!(LogService::parse("funnel"), None);
        assert_eq!(LogLevel::parse("warning"), Some(LogLevel::Warning));
    }

    #[test]
    fn keys_sort_newest_first() {
        let mut keys = [
            (log_key(5, 1), "t5 first"),
            (log_key(9, 2), "t9"),
            (log_key(5, 3), "t5 second"),
            (log_key(i64::MIN, 4), "min"),
            (log_key(i64::MAX, 5), "max"),
            (log_key(-1, 6), "minus one"),
        ];
        keys.sort();
        let order: Vec<&str> = keys.iter().map(|(_, n)| *n).collect();
        assert_eq!(
            order,
            ["max", "t9", "t5 second", "t5 first", "minus one", "min"]
        );
    }

    #[test]
    fn filter() {
        let e = entry(LogService::Funnel, "440100000000001", 1_000);
        assert!(LogFilter::default().matches(&e));
        let f = |f: LogFilter| f.matches(&e);
        assert!(f(LogFilter {
            service: Some(LogService::Funnel),
            resource_type: Some(LogResourceType::Subscriber),
            resource_id: Some("440100000000001".into()),
            from: Some(1_000),
            to: Some(1_000),
        }));
        assert!(!f(LogFilter {
            service: Some(LogService::Funk),
            ..LogFilter::default()
        }));
        assert!(!f(LogFilter {
            resource_type: Some(LogResourceType::Device),
            ..LogFilter::default()
        }));
        assert!(!f(LogFilter {
            resource_id: Some("other".into()),
            ..LogFilter::default()
        }));
        assert!(!f(LogFilter {
            from: Some(1_001),
            ..LogFilter::default()
        }));
        assert!(!f(LogFilter {
            to: Some(999),
            ..LogFilter::default()
        }));
    }

    #[test]
    fn model_and_json_shape() {
        let mut e = entry(LogService::Funnel, "i1", 7);
        e.body.insert("message".into(), json!("boom"));
        assert_eq!(
            e.model("OP1"),
            json!({
                "operatorId": "OP1", "service": "Funnel", "resourceType": "Subscriber",
                "resourceId": "i1", "time": 7, "logLevel": "error", "body": {"message": "boom"},
            })
        );
        let parsed: Result<LogEntry, _> = serde_json::from_value(json!({
            "service": "Funnel", "resourceType": "Subscriber", "resourceId": "i1",
            "time": 7, "logLevel": "error", "body": {"message": "boom"},
        }));
        assert_eq!(parsed.ok(), Some(e));
        let not_object: Result<LogEntry, _> = serde_json::from_value(json!({
            "service": "Funnel", "resourceType": "Subscriber", "resourceId": "i1",
            "time": 7, "logLevel": "error", "body": "boom",
        }));
        assert!(not_object.is_err());
    }
}
