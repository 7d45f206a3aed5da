//! Page sizes for list queries, shared by every backend: a limit of 0 means the default page,
//! and no page is larger than the maximum.

/// Records returned when a filter asks for `limit: 0`.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// The most records one list call returns.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// The effective `LIMIT` for a filter's `limit`.
pub(crate) fn page_size(limit: u32) -> i64 {
    match limit {
        0 => i64::from(DEFAULT_PAGE_SIZE),
        limit => i64::from(limit.min(MAX_PAGE_SIZE)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_means_the_default_page_and_large_limits_are_capped() {
        assert_eq!(page_size(0), 100);
        assert_eq!(page_size(1), 1);
        assert_eq!(page_size(1000), 1000);
        assert_eq!(page_size(u32::MAX), 1000);
    }
}
