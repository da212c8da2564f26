use std::fmt;

/// A phone number in E.164: `+`, then 8 to 15 digits, the first not `0`.
///
/// linekeeper's numbers include short service lines such as `+983000505`
/// (the seeds' example), so the lower bound is 8 digits rather than the
/// subscriber-number lengths a full numbering plan would demand.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164(String);

impl E164 {
    /// Parses exactly the canonical form; no spaces, dashes or missing `+`.
    pub fn parse(s: &str) -> Option<E164> {
        let digits = s.strip_prefix('+')?;
        let ok = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        ok.then(|| E164(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits after the `+`.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E164({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::E164;

    #[test]
    fn accepts_the_seed_number_and_bounds() {
        assert!(E164::parse("+983000505").is_some());
        assert!(E164::parse("+12345678").is_some());
        assert!(E164::parse("+123456789012345").is_some());
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            "+",
            "983000505",
            "+1234567",
            "+1234567890123456",
            "+0983000505",
            "+98 300 0505",
            "+98300050a",
            "++983000505",
            "+۹۸۳۰۰۰۵۰۵",
            " +983000505",
        ] {
            assert!(E164::parse(bad).is_none(), "{bad:?} must be rejected");
        }
    }
}
