use std::fmt;

/// An account's username: 3 to 32 of `A-Z a-z 0-9 . _ -`.
///
/// Usernames keep the case they were created with but are compared
/// case-insensitively; [`Username::key`] is the form used for lookups.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(s: &str) -> Option<Username> {
        let ok = (3..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        ok.then(|| Username(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form under which usernames are unique.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Username({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Username;

    #[test]
    fn format() {
        for good in ["abc", "test.user_1-x", "A23", &"a".repeat(32)] {
            assert!(Username::parse(good).is_some(), "{good:?}");
        }
        for bad in [
            "",
            "ab",
            &"a".repeat(33),
            "has space",
            "emoji😀",
            "کاربر",
            "a/b",
        ] {
            assert!(Username::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn key_folds_case() {
        assert_eq!(Username::parse("TestUser").unwrap().key(), "testuser");
    }
}
