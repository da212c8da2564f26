//! The domain's values: accounts and numbers as every layer sees them, and
//! parsed values that are valid once they exist, so the core never re-checks
//! formats ("parse, don't validate").

mod account;
mod country;
mod e164;
mod number;
mod password;
mod time;
mod token;
mod uid;
mod username;

pub use account::{Account, NewAccount};
pub use country::country_of;
pub use e164::E164;
pub use number::{
    Cycle, Grant, NewNumber, Number, NumberState, Quarantine, Reservation, Subscription,
};
pub use password::{NewPassword, PasswordShortfall};
pub use time::{Clock, ManualClock, SystemClock, iso8601_utc, parse_rfc3339, rfc3339_utc};
pub use token::{TokenKind, TokenSecret};
pub use uid::NumberUid;
pub use username::Username;

/// Fills `buf` from the operating system's CSPRNG.
///
/// The OS generator failing is not something a request can cause or recover
/// from, so it aborts loudly instead of producing weak secrets.
pub(crate) fn random_bytes(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system's random generator failed");
}

/// Lower-case hexadecimal of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}
