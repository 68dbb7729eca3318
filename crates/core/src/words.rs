//! The [`Words`] trait, how a time reads in text (`fmt_time`), and the `serialize_with`
//! helpers that put a value's sentence beside its fields in JSON (as `message`).
//!
//! A module of its own that depends on no other module of the crate: the worded types
//! (the plan's steps and outcomes, `status`) name these helpers in their serde attributes,
//! and [`crate::wording`] implements the trait for them; with the trait here neither has to
//! import the other.

use serde::{Serialize, Serializer};
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// A value the tool words for people.
pub trait Words {
    /// The sentence.
    fn words(&self) -> String;
}

/// Serializes `v` with its sentence beside its fields, as `message`.
fn with_message<T: Serialize + Words>(v: &T) -> serde_json::Value {
    let mut json = serde_json::to_value(v).unwrap_or(serde_json::Value::Null);
    if let serde_json::Value::Object(m) = &mut json {
        m.insert("message".into(), serde_json::Value::String(v.words()));
    }
    json
}

/// A time as people read it, to the minute and in UTC: `2027-02-24 20:46 UTC`. Text only;
/// JSON keeps RFC 3339 with the fields' full precision.
pub(crate) fn fmt_time(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_else(|_| format!("{} s after 1970 UTC", t.unix_timestamp()))
}

/// A time in a table's cell whose header names the zone (`… (UTC)`): `2027-02-24 20:46`.
pub(crate) fn fmt_minute(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC)
        .format(format_description!("[year]-[month]-[day] [hour]:[minute]"))
        .unwrap_or_else(|_| format!("{} s after 1970", t.unix_timestamp()))
}

/// `serialize_with` for one worded value.
pub(crate) fn worded<T: Serialize + Words, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    with_message(v).serialize(s)
}

/// `serialize_with` for an optional worded value.
pub(crate) fn worded_option<T: Serialize + Words, S: Serializer>(
    v: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    v.as_ref().map(with_message).serialize(s)
}

/// `serialize_with` for a list of worded values.
#[allow(clippy::ptr_arg)] // serde hands the field itself, a `Vec`
pub(crate) fn worded_all<T: Serialize + Words, S: Serializer>(
    v: &Vec<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    v.iter().map(with_message).collect::<Vec<_>>().serialize(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// Text shows a time to the minute with its zone, whatever precision or offset it has.
    #[test]
    fn times_read_to_the_minute_in_utc() {
        assert_eq!(
            fmt_time(datetime!(2027-02-24 20:46:43.978099 UTC)),
            "2027-02-24 20:46 UTC"
        );
        assert_eq!(
            fmt_time(datetime!(2026-12-14 13:48:47.292155248 +09:00)),
            "2026-12-14 04:48 UTC"
        );
        // In a table whose header names the zone.
        assert_eq!(
            fmt_minute(datetime!(2026-12-14 13:48:47.292155248 +09:00)),
            "2026-12-14 04:48"
        );
    }
}
