//! How a paged list answers: the page size a `limit` asks for, and the headers that lead to
//! the next page.
//!
//! SORACOM's paged lists take `limit` and `last_evaluated_key` and give the next page's key
//! in `x-soracom-next-key`; SORACOM's paging doc warns that some APIs send only
//! `Link: <…>; rel=next` instead, and the Go SDK pages groups by `Link`
//! (users.soracom.io/ja-jp/tools/api/paging/; soracom/soracom-sdk-go `sdk.go`).
//! [`PagingMode`] picks what the emulator sends, including broken answers a client must
//! refuse; [`page_size`] refuses a `limit` above a maximum with a 400, as an API that caps
//! it would. Pure functions, so the rules are unit-tested without a server.

use serde::{Deserialize, Serialize};

use crate::reply::ApiError;
use crate::routes::percent_decode;

/// How a paged list (`GET /v1/groups`, `/v1/virtual_private_gateways`, `/v1/logs`) says that
/// more pages remain. The last page carries no next-page header, but in
/// [`PagingMode::EmptyOnLastPage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PagingMode {
    /// What the spec documents for each list: `x-soracom-next-key` only for groups and VPGs
    /// (their `x-soracom-cli-pagination`); both headers for logs (getLogs' description names
    /// the `link` header, its `last_evaluated_key` parameter the `x-soracom-next-key` one).
    #[default]
    Documented,
    /// `x-soracom-next-key: <key>` only.
    NextKey,
    /// `Link: <…?last_evaluated_key=<key>>; rel=next` only, the form the Go SDK parses.
    Link,
    /// Both headers.
    Both,
    /// `x-soracom-next-key: <key>` on every page but the last, which carries it empty: a
    /// last page as SORACOM's own clients read it (soracom-cli stops on an empty value).
    EmptyOnLastPage,
    /// Broken: `Link: <…>; rel=next` whose URL has no `last_evaluated_key`.
    LinkWithoutKey,
    /// Broken: `x-soracom-next-key` repeats the request's `last_evaluated_key` (the first
    /// page, asked without one, gives the true key): the list never advances.
    RepeatKey,
}

impl PagingMode {
    /// The mode in force for a list whose spec documents `documented` (never `Documented`).
    fn resolve(self, documented: PagingMode) -> PagingMode {
        match self {
            PagingMode::Documented => documented,
            other => other,
        }
    }
}

/// Where the next page is, to build the headers that lead to it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NextPage<'a> {
    /// The request's `Host`, for an absolute `Link` URL; without it the URL is path-only.
    pub host: Option<&'a str>,
    /// The list's path, e.g. `/v1/groups`.
    pub path: &'a str,
    /// The request's raw query string: the `Link` keeps its conditions.
    pub query: Option<&'a str>,
    /// The next page's `last_evaluated_key`.
    pub key: &'a str,
}

/// The headers (lowercase names) that lead to the next page, in `mode`, for a list whose
/// spec documents `documented`.
pub(crate) fn next_page_headers(
    mode: PagingMode,
    documented: PagingMode,
    next: &NextPage<'_>,
) -> Vec<(String, String)> {
    let next_key = |v: &str| ("x-soracom-next-key".to_owned(), v.to_owned());
    let link = |key: Option<&str>| ("link".to_owned(), format!("<{}>; rel=next", url(next, key)));
    match mode.resolve(documented) {
        // `resolve` never returns `Documented`; answer as `NextKey` if it ever did.
        PagingMode::Documented | PagingMode::NextKey | PagingMode::EmptyOnLastPage => {
            vec![next_key(next.key)]
        }
        PagingMode::Link => vec![link(Some(next.key))],
        PagingMode::Both => vec![next_key(next.key), link(Some(next.key))],
        PagingMode::LinkWithoutKey => vec![link(None)],
        PagingMode::RepeatKey => {
            vec![next_key(
                &requested_key(next.query).unwrap_or_else(|| next.key.to_owned()),
            )]
        }
    }
}

/// The headers (lowercase names) of a list's last page in `mode`: none, or an empty
/// `x-soracom-next-key` in [`PagingMode::EmptyOnLastPage`].
pub(crate) fn last_page_headers(mode: PagingMode) -> Vec<(String, String)> {
    match mode {
        PagingMode::EmptyOnLastPage => vec![("x-soracom-next-key".to_owned(), String::new())],
        _ => Vec::new(),
    }
}

/// The `last_evaluated_key` of a raw query string, decoded.
fn requested_key(query: Option<&str>) -> Option<String> {
    let decode = |s: &str| percent_decode(&s.replace('+', " "));
    query?.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (decode(name)? == "last_evaluated_key").then(|| decode(value))?
    })
}

/// The next page's URL: the request's, with `last_evaluated_key` set to `key` (or dropped).
fn url(next: &NextPage<'_>, key: Option<&str>) -> String {
    let mut pairs: Vec<String> = next
        .query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let name = p.split_once('=').map_or(*p, |(k, _)| k);
            percent_decode(&name.replace('+', " ")).as_deref() != Some("last_evaluated_key")
        })
        .map(str::to_owned)
        .collect();
    if let Some(key) = key {
        pairs.push(format!("last_evaluated_key={}", percent_encode(key)));
    }
    let origin = next.host.map(|h| format!("http://{h}")).unwrap_or_default();
    let query = if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    };
    format!("{origin}{}{query}", next.path)
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The page size for a request's raw `limit`: `page_size` when absent, else the smaller of
/// the two. A `limit` that is not a positive integer is a 400, and so is one above
/// `max_limit` (the knob modelling an API that refuses a large `limit`; SORACOM documents
/// no maximum).
pub(crate) fn page_size(
    limit: Option<&str>,
    page_size: usize,
    max_limit: Option<usize>,
) -> Result<usize, ApiError> {
    let page_size = page_size.max(1);
    let Some(raw) = limit else {
        return Ok(page_size);
    };
    let limit = raw
        .parse::<usize>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| ApiError::bad_request("limit must be a positive integer"))?;
    if let Some(max) = max_limit.filter(|&max| limit > max) {
        return Err(ApiError::bad_request(format!(
            "limit must be at most {max}"
        )));
    }
    Ok(limit.min(page_size))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(mode: PagingMode, query: Option<&str>) -> Vec<(String, String)> {
        next_page_headers(
            mode,
            PagingMode::NextKey,
            &NextPage {
                host: Some("127.0.0.1:9"),
                path: "/v1/groups",
                query,
                key: "k/1",
            },
        )
    }

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn modes() {
        let q = Some("limit=2&last_evaluated_key=old&tag_name=name");
        let link = "<http://127.0.0.1:9/v1/groups?limit=2&tag_name=name&last_evaluated_key=k%2F1>; rel=next";
        assert_eq!(
            headers(PagingMode::Documented, q),
            [pair("x-soracom-next-key", "k/1")]
        );
        assert_eq!(
            headers(PagingMode::NextKey, q),
            [pair("x-soracom-next-key", "k/1")]
        );
        assert_eq!(headers(PagingMode::Link, q), [pair("link", link)]);
        assert_eq!(
            headers(PagingMode::Both, q),
            [pair("x-soracom-next-key", "k/1"), pair("link", link)]
        );
        // A key on every page but the last, which says it is the last with an empty one.
        assert_eq!(
            headers(PagingMode::EmptyOnLastPage, q),
            [pair("x-soracom-next-key", "k/1")]
        );
        assert_eq!(
            last_page_headers(PagingMode::EmptyOnLastPage),
            [pair("x-soracom-next-key", "")]
        );
        for mode in [
            PagingMode::Documented,
            PagingMode::Link,
            PagingMode::RepeatKey,
        ] {
            assert!(last_page_headers(mode).is_empty(), "{mode:?}");
        }
        assert_eq!(
            headers(PagingMode::LinkWithoutKey, q),
            [pair(
                "link",
                "<http://127.0.0.1:9/v1/groups?limit=2&tag_name=name>; rel=next"
            )]
        );
        assert_eq!(
            headers(PagingMode::LinkWithoutKey, Some("last_evaluated_key=x")),
            [pair("link", "<http://127.0.0.1:9/v1/groups>; rel=next")]
        );
        // The first page leads on; every later one back to itself.
        assert_eq!(
            headers(PagingMode::RepeatKey, Some("limit=2")),
            [pair("x-soracom-next-key", "k/1")]
        );
        assert_eq!(
            headers(PagingMode::RepeatKey, q),
            [pair("x-soracom-next-key", "old")]
        );
        assert_eq!(
            headers(PagingMode::RepeatKey, Some("last_evaluated_key=a%2Fb+c")),
            [pair("x-soracom-next-key", "a/b c")]
        );
        // The documented default of the list decides under `Documented`.
        let both = next_page_headers(
            PagingMode::Documented,
            PagingMode::Both,
            &NextPage {
                host: None,
                path: "/v1/logs",
                query: None,
                key: "a b",
            },
        );
        assert_eq!(
            both,
            [
                pair("x-soracom-next-key", "a b"),
                pair("link", "</v1/logs?last_evaluated_key=a%20b>; rel=next")
            ]
        );
    }

    #[test]
    fn limits() {
        assert_eq!(page_size(None, 100, None).ok(), Some(100));
        assert_eq!(page_size(Some("1000"), 100, None).ok(), Some(100));
        assert_eq!(page_size(Some("7"), 100, None).ok(), Some(7));
        assert_eq!(page_size(None, 0, None).ok(), Some(1));
        for bad in ["0", "-1", "x", ""] {
            assert!(page_size(Some(bad), 100, None).is_err(), "{bad}");
        }
        assert_eq!(page_size(Some("100"), 100, Some(100)).ok(), Some(100));
        let refused = page_size(Some("1000"), 100, Some(100));
        assert_eq!(refused.map_err(|e| e.status), Err(400));
        // No limit sent: the maximum does not apply.
        assert_eq!(page_size(None, 500, Some(100)).ok(), Some(500));
    }

    #[test]
    fn encoding() {
        assert_eq!(percent_encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(percent_encode("a/b c&é"), "a%2Fb%20c%26%C3%A9");
    }
}
