use std::fmt;

/// A password strong enough for a new account: at least
/// [`NewPassword::MIN_CHARS`] characters, with an upper-case and a lower-case
/// letter, a digit and a symbol.
///
/// The classes follow Laravel's `Password` rule, whose messages the panel
/// face speaks: letters by Unicode case, digits by Unicode `N`, and a
/// "symbol" is any character that is neither a letter nor a digit (spaces and
/// punctuation included). Its `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

/// One way a password falls short, in the order Laravel reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordShortfall {
    /// Fewer than [`NewPassword::MIN_CHARS`] characters. When it is short,
    /// nothing else is reported (as Laravel stops at `min`).
    TooShort,
    /// Lacks an upper-case or a lower-case letter.
    MixedCase,
    /// Lacks a character that is neither a letter nor a digit.
    Symbol,
    /// Lacks a digit.
    Number,
}

impl PasswordShortfall {
    /// The English message, as the faces' English catalogues give it for the
    /// field `password` (Laravel's wording), for callers that are not a face:
    /// the command line.
    pub fn describe(self) -> String {
        match self {
            PasswordShortfall::TooShort => format!(
                "The password must be at least {} characters.",
                NewPassword::MIN_CHARS
            ),
            PasswordShortfall::MixedCase => {
                "The password must contain at least one uppercase and one lowercase letter.".into()
            }
            PasswordShortfall::Symbol => "The password must contain at least one symbol.".into(),
            PasswordShortfall::Number => "The password must contain at least one number.".into(),
        }
    }

    /// Every shortfall's message, one after another.
    pub fn describe_all(shortfalls: &[PasswordShortfall]) -> String {
        shortfalls
            .iter()
            .map(|s| s.describe())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl NewPassword {
    pub const MIN_CHARS: usize = 8;

    /// The password, or every way it falls short.
    pub fn parse(s: &str) -> Result<NewPassword, Vec<PasswordShortfall>> {
        if s.chars().count() < Self::MIN_CHARS {
            return Err(vec![PasswordShortfall::TooShort]);
        }
        let mut missing = Vec::new();
        if !(s.chars().any(char::is_uppercase) && s.chars().any(char::is_lowercase)) {
            missing.push(PasswordShortfall::MixedCase);
        }
        if !s.chars().any(|c| !c.is_alphanumeric()) {
            missing.push(PasswordShortfall::Symbol);
        }
        if !s.chars().any(char::is_numeric) {
            missing.push(PasswordShortfall::Number);
        }
        if missing.is_empty() {
            Ok(NewPassword(s.to_owned()))
        } else {
            Err(missing)
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::{NewPassword, PasswordShortfall::*};

    #[test]
    fn strong_passwords_pass() {
        for good in ["Secret-pass1", "aB3$efgh", "Pass word 9", "Ärger-1ü2"] {
            assert!(NewPassword::parse(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn shortfalls_are_reported_as_laravel_does() {
        let cases: [(&str, &[_]); 7] = [
            ("", &[TooShort]),
            ("aB3$efg", &[TooShort]),
            ("abcdefgh", &[MixedCase, Symbol, Number]),
            ("abcdEFGH", &[Symbol, Number]),
            ("abcdEFG1", &[Symbol]),
            ("abcd-FGH", &[Number]),
            ("ABCD-123", &[MixedCase]),
        ];
        for (input, expected) in cases {
            assert_eq!(
                NewPassword::parse(input).unwrap_err(),
                expected,
                "{input:?}"
            );
        }
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        // Seven characters, fourteen bytes in UTF-8.
        assert_eq!(NewPassword::parse("آبپتثجچ").unwrap_err(), [TooShort]);
    }

    #[test]
    fn debug_hides_the_secret() {
        let p = NewPassword::parse("Secret-pass1").unwrap();
        assert_eq!(format!("{p:?}"), "NewPassword(..)");
    }
}
