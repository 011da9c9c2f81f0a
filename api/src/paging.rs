//! Page parameters with their bounds, and a page of results. The list
//! endpoints share them (`?page=&per_page=`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub const MAX_PAGE: u32 = 100_000;
pub const MAX_PER_PAGE: u32 = 100;
pub const DEFAULT_PER_PAGE: u32 = 20;

/// One page of a list, with the total count of the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[schema(minimum = 1, maximum = 100_000)]
    pub page: u32,
    #[schema(minimum = 1, maximum = 100)]
    pub per_page: u32,
    #[schema(minimum = 0)]
    pub total: i64,
}

/// Checked page parameters: `page` 1 to [`MAX_PAGE`], `per_page` 1 to
/// [`MAX_PER_PAGE`] (default [`DEFAULT_PER_PAGE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Paging {
    pub page: u32,
    pub per_page: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPaging {
    #[error("page must be between 1 and {MAX_PAGE}")]
    Page,
    #[error("per_page must be between 1 and {MAX_PER_PAGE}")]
    PerPage,
}

impl Paging {
    pub fn parse(page: Option<u32>, per_page: Option<u32>) -> Result<Self, InvalidPaging> {
        let page = page.unwrap_or(1);
        if !(1..=MAX_PAGE).contains(&page) {
            return Err(InvalidPaging::Page);
        }
        let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE);
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(InvalidPaging::PerPage);
        }
        Ok(Self { page, per_page })
    }

    /// Rows to skip before this page.
    pub fn offset(self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.per_page)
    }

    pub fn limit(self) -> i64 {
        i64::from(self.per_page)
    }
}

impl Default for Paging {
    fn default() -> Self {
        Self {
            page: 1,
            per_page: DEFAULT_PER_PAGE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_is_bounded() {
        assert_eq!(Paging::parse(Some(0), Some(10)), Err(InvalidPaging::Page));
        assert_eq!(Paging::parse(Some(MAX_PAGE + 1), None), Err(InvalidPaging::Page));
        assert_eq!(Paging::parse(Some(1), Some(0)), Err(InvalidPaging::PerPage));
        assert_eq!(Paging::parse(Some(1), Some(101)), Err(InvalidPaging::PerPage));
        assert_eq!(Paging::parse(Some(3), Some(10)).map(Paging::offset), Ok(20));
        assert_eq!(Paging::parse(None, None), Ok(Paging::default()));
    }
}
