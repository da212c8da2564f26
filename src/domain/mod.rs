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
pub use time::{
    Clock, ManualClock, SystemClock, iso8601_utc, parse_rfc3339, rfc3339_utc, write_rfc3339_utc,
};
pub use token::{TokenKind, TokenSecret};
pub use uid::NumberUid;
pub use username::Username;

/// Whether `s` holds no control character (below U+0020), quote or
/// backslash: text that JSON carries as it is between quotes (`"`, `\` and
/// the control characters are the only bytes serde_json escapes; it writes
/// everything else, UTF-8 included, as it is). The native face's writer
/// asks it of each string, and `store::NumberFacts` once per number. Eight bytes at a time (a byte-by-byte
/// test was about 4 instructions a byte, most of a string's cost here):
/// `(w - n) & !w & 0x80..` has a byte's high bit set exactly where some
/// byte of `w` is below `n` (for `n` up to 0x80), and `w ^ c` has a zero
/// byte exactly where `w` has a byte `c`.
pub fn plain_text(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |w: u64, n: u64| w.wrapping_sub(n * ONES) & !w & HIGH;
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(c);
        let w = u64::from_le_bytes(word);
        if below(w, 0x20) | below(w ^ (0x22 * ONES), 1) | below(w ^ (0x5C * ONES), 1) != 0 {
            return false;
        }
    }
    chunks
        .remainder()
        .iter()
        .all(|&b| b >= 0x20 && b != b'"' && b != b'\\')
}

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
