//! Reading every page of a paged SORACOM list (groups, VPGs), bounded.
//!
//! [`Pager::each`] is the one loop that walks a list: it asks for `limit` items a page,
//! falls back to [`FALLBACK_PAGE_SIZE`] for the rest of the run when SORACOM refuses that
//! `limit` (400; the API states no maximum), stops with an error on a next-page key it has
//! already read, and reads at most [`MAX_PAGES`] pages. The client turns each answer's
//! headers into the next key ([`super::client`]); a listing therefore either reads every
//! page or fails ([`crate::Error::SoracomPaging`]), never stops early in silence.

use std::collections::HashSet;
use std::future::Future;

use crate::config::FALLBACK_PAGE_SIZE;
use crate::error::StatusError;
use crate::error::{Error, PagingProblem, Result};

/// Pages one listing reads at most; past this the listing is considered broken.
pub const MAX_PAGES: usize = 100_000;

/// What a visitor of [`Pager::each`] wants after an item (a walk ends early only when its
/// visitor has seen enough; never because a page looked odd).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Walk {
    /// The next item (and page).
    More,
    /// Nothing more: the walk ends here.
    Enough,
}

/// Walks paged lists for one run; the `limit` it asks for is shared by the lists it reads,
/// so a server that refused one `limit` is not asked it again.
#[derive(Debug, Clone)]
pub struct Pager {
    limit: u32,
}

impl Pager {
    /// A pager that asks for `page_size` items a page (at least 1).
    pub fn new(page_size: u32) -> Pager {
        Pager {
            limit: page_size.max(1),
        }
    }

    /// The `limit` the next page is asked with.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Reads every page of the list `op` (its operationId): `fetch(after, limit)` reads the
    /// page after `after` and returns its items and the next page's key (`None` on the last
    /// page); `visit` sees each item, page by page, so a long list is never held whole, and
    /// ends the walk early by answering [`Walk::Enough`]. Returns the number of pages read.
    pub async fn each<T, F, Fut>(
        &mut self,
        op: &'static str,
        mut fetch: F,
        mut visit: impl FnMut(T) -> Walk,
    ) -> Result<usize>
    where
        F: FnMut(Option<String>, u32) -> Fut,
        Fut: Future<Output = Result<(Vec<T>, Option<String>)>>,
    {
        let mut after: Option<String> = None;
        let mut seen = HashSet::new();
        for pages in 1..=MAX_PAGES {
            let (items, next) = match fetch(after.clone(), self.limit).await {
                // Few pages keep a run fast, but the API states no maximum for `limit`: a
                // server that refuses a large one gets the common size from then on.
                Err(Error::SoracomStatus(StatusError { status: 400, .. }))
                    if self.limit > FALLBACK_PAGE_SIZE =>
                {
                    tracing::warn!(
                        op,
                        limit = self.limit,
                        fallback = FALLBACK_PAGE_SIZE,
                        "the page size was refused"
                    );
                    self.limit = FALLBACK_PAGE_SIZE;
                    fetch(after.clone(), self.limit).await?
                }
                other => other?,
            };
            for item in items {
                if visit(item) == Walk::Enough {
                    return Ok(pages);
                }
            }
            match next {
                None => {
                    tracing::debug!(op, pages, "listed every page");
                    return Ok(pages);
                }
                // A key read before leads to pages read before: the list would never end.
                Some(key) if !seen.insert(key.clone()) => {
                    return Err(Error::SoracomPaging {
                        op,
                        problem: PagingProblem::KeyRepeated,
                    });
                }
                Some(key) => after = Some(key),
            }
        }
        Err(Error::SoracomPaging {
            op,
            problem: PagingProblem::TooManyPages { max: MAX_PAGES },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list of `n` items, `per` a page, keys `k<i>`; `next` can override the next key of
    /// a page (by the index of its first item).
    async fn walk(
        pager: &mut Pager,
        n: usize,
        per: usize,
        next: impl Fn(usize) -> Option<Option<String>>,
        refuse_above: Option<u32>,
    ) -> (Result<usize>, Vec<usize>, Vec<u32>) {
        let mut asked = Vec::new();
        let mut got = Vec::new();
        let asked_ref = &mut asked;
        let r = pager
            .each(
                "listGroups",
                |after: Option<String>, limit| {
                    asked_ref.push(limit);
                    let from = after
                        .and_then(|k| k.trim_start_matches('k').parse::<usize>().ok())
                        .unwrap_or(0);
                    let refused = refuse_above.is_some_and(|max| limit > max);
                    let page = (from..(from + per).min(n)).collect::<Vec<_>>();
                    let key = next(from)
                        .unwrap_or_else(|| (from + per < n).then(|| format!("k{}", from + per)));
                    async move {
                        if refused {
                            return Err(Error::SoracomStatus(StatusError {
                                op: "listGroups",
                                status: 400,
                                code: None,
                                message: "limit".into(),
                            }));
                        }
                        Ok((page, key))
                    }
                },
                |i| {
                    got.push(i);
                    Walk::More
                },
            )
            .await;
        (r, got, asked)
    }

    #[tokio::test]
    async fn every_page_is_read_once() {
        let mut pager = Pager::new(1000);
        let (r, got, asked) = walk(&mut pager, 7, 3, |_| None, None).await;
        assert_eq!(r.ok(), Some(3));
        assert_eq!(got, (0..7).collect::<Vec<_>>());
        assert_eq!(asked, [1000; 3]);
    }

    #[tokio::test]
    async fn a_refused_limit_falls_back_for_the_rest_of_the_run() {
        let mut pager = Pager::new(1000);
        let (r, got, asked) = walk(&mut pager, 7, 3, |_| None, Some(100)).await;
        assert_eq!(r.ok(), Some(3));
        assert_eq!(got.len(), 7);
        assert_eq!(asked, [1000, 100, 100, 100]);
        assert_eq!(pager.limit(), 100);
        // A 400 at the fallback size is an error, not another fallback.
        let (r, _, asked) = walk(&mut pager, 7, 3, |_| None, Some(10)).await;
        assert!(matches!(
            r,
            Err(Error::SoracomStatus(StatusError { status: 400, .. }))
        ));
        assert_eq!(asked, [100]);
    }

    #[tokio::test]
    async fn a_key_read_before_is_an_error_not_a_loop() {
        let mut pager = Pager::new(10);
        // Page 3 leads back to page 2.
        let cycle = |from| (from == 6).then(|| Some("k3".to_string()));
        let (r, got, asked) = walk(&mut pager, 20, 3, cycle, None).await;
        assert!(
            matches!(
                r,
                Err(Error::SoracomPaging {
                    problem: PagingProblem::KeyRepeated,
                    ..
                })
            ),
            "{r:?}"
        );
        assert_eq!((got.len(), asked.len()), (9, 3));
    }

    #[tokio::test]
    async fn a_list_that_never_ends_is_bounded() {
        let mut pager = Pager::new(10);
        // Every page leads to a new key: the bound ends it.
        let (r, _, asked) = walk(&mut pager, usize::MAX, 1, |_| None, None).await;
        assert!(
            matches!(
                r,
                Err(Error::SoracomPaging {
                    problem: PagingProblem::TooManyPages { max: MAX_PAGES },
                    ..
                })
            ),
            "{r:?}"
        );
        assert_eq!(asked.len(), MAX_PAGES);
    }
}
