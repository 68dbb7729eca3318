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
pub(crate) const MAX_PAGES: usize = 100_000;

/// What a visitor of [`Pager::each`] wants after an item (a walk ends early only when its
/// visitor has seen enough; never because a page looked odd).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Walk {
    /// The next item (and page).
    More,
    /// Nothing more: the walk ends here.
    Enough,
}

/// Walks paged lists for one run; the `limit` it asks for is shared by the lists it reads,
/// so a server that refused one `limit` is not asked it again.
#[derive(Debug, Clone)]
pub(crate) struct Pager {
    limit: u32,
}

impl Pager {
    /// A pager that asks for `page_size` items a page (at least 1).
    pub(crate) fn new(page_size: u32) -> Pager {
        Pager {
            limit: page_size.max(1),
        }
    }

    /// The `limit` the next page is asked with.
    #[cfg(test)]
    pub(crate) fn limit(&self) -> u32 {
        self.limit
    }

    /// Reads every page of the list `op` (its operationId): `fetch(after, limit)` reads the
    /// page after `after` and returns its items and the next page's key (`None` on the last
    /// page); `visit` sees each item, page by page, so a long list is never held whole, and
    /// ends the walk early by answering [`Walk::Enough`]. Returns the number of pages read.
    pub(crate) async fn each<T, F, Fut>(
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
mod tests;
