use std::fmt;

use sha2::{Digest, Sha256};

/// What a credential is: a login session (expires) or an API key (does not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Session,
    ApiKey,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Session => "session",
            TokenKind::ApiKey => "key",
        }
    }

    pub fn parse(s: &str) -> Option<TokenKind> {
        match s {
            "session" => Some(TokenKind::Session),
            "key" => Some(TokenKind::ApiKey),
            _ => None,
        }
    }
}

/// A bearer secret as the client holds it. It is shown once, when issued;
/// only its SHA-256 digest is stored, and `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

impl TokenSecret {
    /// 256 random bits, hex encoded, behind a prefix that tells a human (or a
    /// secret scanner) what it is.
    pub fn generate(kind: TokenKind) -> TokenSecret {
        let mut bytes = [0u8; 32];
        super::random_bytes(&mut bytes);
        let prefix = match kind {
            TokenKind::Session => "lks_",
            TokenKind::ApiKey => "lkk_",
        };
        TokenSecret(format!("{prefix}{}", super::hex(&bytes)))
    }

    /// Wraps whatever a client presented; it is only ever hashed and compared.
    pub fn from_presented(s: &str) -> TokenSecret {
        TokenSecret(s.to_owned())
    }

    /// The stored form: hex SHA-256.
    pub fn digest(&self) -> String {
        super::hex(&Sha256::digest(self.0.as_bytes()))
    }

    /// The secret itself, for the one time it is shown to its owner.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_redacted() {
        let a = TokenSecret::generate(TokenKind::ApiKey);
        let b = TokenSecret::generate(TokenKind::ApiKey);
        assert_ne!(a, b);
        assert!(a.expose().starts_with("lkk_") && a.expose().len() == 4 + 64);
        assert_eq!(format!("{a:?}"), "TokenSecret(<redacted>)");
        assert_eq!(a.digest().len(), 64);
        assert_eq!(a.digest(), TokenSecret::from_presented(a.expose()).digest());
    }
}
