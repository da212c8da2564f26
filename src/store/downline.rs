//! Querying an account's downline through the materialized `path`.
//!
//! An account's path lists the ids from its root down to itself (`/1/5/`), so
//! its downline is exactly the accounts whose path starts with it and is
//! longer. Every backend reads that as a range on the indexed `path` column:
//! `path > '/1/5/' AND path < '/1/50'` (see [`downline_bounds`]), which needs
//! only byte-wise collation (SQLite's default `BINARY`, PostgreSQL's
//! `COLLATE "C"`), never a walk of the tree.

/// Which part of a downline to list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    /// The account's children only.
    Direct,
    /// Everything below its children only.
    Indirect,
}

/// Filters on a downline listing; `None` means "any".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DownlineFilter {
    /// Accounts whose username contains this, compared case-insensitively.
    /// Backends match it against the lower-cased `username_key`, so it is
    /// given lower-cased (usernames are ASCII).
    pub username: Option<String>,
    /// Accounts whose display name contains this; ASCII letters compare
    /// case-insensitively, everything else exactly.
    pub name: Option<String>,
    pub is_reseller: Option<bool>,
    pub relation: Option<Relation>,
    /// Accounts whose username or display name contains this (as for
    /// `username` and `name`, given lower-cased).
    pub q: Option<String>,
    /// Only accounts with a greater id (a keyset cursor).
    pub after_id: Option<i64>,
}

/// The exclusive bounds `(low, high)` of the paths strictly below `path`.
///
/// `path` ends in `/`; every descendant's path is `path` followed by at least
/// one digit, so it sorts after `path` itself and before `path` with its last
/// `/` replaced by `0` (the next byte after `/` in ASCII), and nothing else
/// sorts between the two.
pub fn downline_bounds(path: &str) -> (String, String) {
    let stem = path.strip_suffix('/').unwrap_or(path);
    (path.to_owned(), format!("{stem}0"))
}

/// `needle` as a `LIKE` pattern matching any text that contains it, with `\`
/// as the escape character (`ESCAPE '\'`), so `%`, `_` and `\` in the needle
/// match only themselves.
pub fn contains_pattern(needle: &str) -> String {
    let mut out = String::with_capacity(needle.len() + 2);
    out.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::{contains_pattern, downline_bounds};

    #[test]
    fn bounds_enclose_exactly_the_descendants() {
        let (low, high) = downline_bounds("/1/5/");
        assert_eq!((low.as_str(), high.as_str()), ("/1/5/", "/1/50"));
        let inside = ["/1/5/6/", "/1/5/23/", "/1/5/9/77/"];
        let outside = ["/1/5/", "/1/50/", "/1/51/", "/1/6/", "/1/", "/2/5/"];
        for p in inside {
            assert!(p > low.as_str() && p < high.as_str(), "{p}");
        }
        for p in outside {
            assert!(!(p > low.as_str() && p < high.as_str()), "{p}");
        }
    }

    #[test]
    fn patterns_escape_wildcards() {
        assert_eq!(contains_pattern("ab"), "%ab%");
        assert_eq!(contains_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}
