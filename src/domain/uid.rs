use std::fmt;

/// The virtual-number face's id of a number: 24 hex characters, kept in
/// lower case.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NumberUid(String);

impl NumberUid {
    /// 24 hex digits in either case, as a MongoDB ObjectId cast reads them
    /// (`A4BD91924C9D91AF3778F59D` is the same id as its lower-case form);
    /// the parsed value is always lower case, so lookups and answers use one
    /// spelling.
    pub fn parse(s: &str) -> Option<NumberUid> {
        let ok = s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit());
        ok.then(|| NumberUid(s.to_ascii_lowercase()))
    }

    /// A fresh random uid (96 bits).
    pub fn generate() -> NumberUid {
        let mut bytes = [0u8; 12];
        super::random_bytes(&mut bytes);
        NumberUid(super::hex(&bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NumberUid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NumberUid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NumberUid({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::NumberUid;

    #[test]
    fn parses_the_seed_id_and_rejects_others() {
        assert!(NumberUid::parse("66ea98514f0c1a121c76ec17").is_some());
        for bad in [
            "",
            "66ea98514f0c1a121c76ec1",
            "66ea98514f0c1a121c76ec1g",
            "66ea98514f0c1a121c76ec170",
        ] {
            assert!(NumberUid::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn any_case_parses_to_lower_case() {
        let upper = NumberUid::parse("66EA98514F0C1A121C76eC17").expect("mixed case");
        assert_eq!(upper.as_str(), "66ea98514f0c1a121c76ec17");
        assert_eq!(NumberUid::parse("66ea98514f0c1a121c76ec17"), Some(upper));
    }

    #[test]
    fn generated_uids_parse() {
        let uid = NumberUid::generate();
        assert_eq!(NumberUid::parse(uid.as_str()), Some(uid));
    }
}
