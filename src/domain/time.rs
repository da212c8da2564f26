use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where "now" comes from, so tests can move time (token expiry) without sleeping.
pub trait Clock: Send + Sync + 'static {
    /// Seconds since the Unix epoch.
    fn now(&self) -> i64;
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to.
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start: i64) -> ManualClock {
        ManualClock(AtomicI64::new(start))
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// `YYYY-MM-DDTHH:MM:SS.000Z` for Unix seconds (proleptic Gregorian, UTC).
pub fn iso8601_utc(unix: i64) -> String {
    utc(unix, ".000Z")
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds (RFC 3339, UTC): the native
/// face's times, [`iso8601_utc`] without its milliseconds.
pub fn rfc3339_utc(unix: i64) -> String {
    utc(unix, "Z")
}

/// The civil date and time of `unix`, then `end`. Years 0-9999 (every time
/// the service writes) are put digit by digit: through `format!` a list of 50
/// history entries spent about 200,000 instructions on its timestamps.
fn utc(unix: i64, end: &str) -> String {
    match digits(unix) {
        Some(d) => {
            let mut out = String::with_capacity(19 + end.len());
            // The digits are ASCII.
            out.extend(d.iter().map(|&b| char::from(b)));
            out.push_str(end);
            out
        }
        None => {
            let (year, month, day, hour, minute, second) = civil(unix);
            format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{end}")
        }
    }
}

/// [`rfc3339_utc`] of `unix` appended to `out` (no `String` of its own:
/// a history page writes one for each of its entries).
pub fn write_rfc3339_utc(unix: i64, out: &mut Vec<u8>) {
    match digits(unix) {
        Some(d) => {
            out.extend_from_slice(&d);
            out.push(b'Z');
        }
        None => out.extend_from_slice(rfc3339_utc(unix).as_bytes()),
    }
}

/// `YYYY-MM-DDTHH:MM:SS` of `unix`, for years 0-9999.
fn digits(unix: i64) -> Option<[u8; 19]> {
    let (year, month, day, hour, minute, second) = civil(unix);
    if !(0..=9999).contains(&year) {
        return None;
    }
    let two = |v: i64| [b'0' + (v / 10) as u8, b'0' + (v % 10) as u8];
    let [y1, y2] = two(year / 100);
    let [y3, y4] = two(year % 100);
    let [mo1, mo2] = two(month);
    let [d1, d2] = two(day);
    let [h1, h2] = two(hour);
    let [mi1, mi2] = two(minute);
    let [s1, s2] = two(second);
    Some([
        y1, y2, y3, y4, b'-', mo1, mo2, b'-', d1, d2, b'T', h1, h2, b':', mi1, mi2, b':', s1, s2,
    ])
}

/// The civil date and time of Unix seconds `unix` (proleptic Gregorian,
/// UTC): year, month, day, hour, minute, second.
fn civil(unix: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, secs / 3600, secs % 3600 / 60, secs % 60)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// days_from_civil).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An RFC 3339 date-time (`2026-01-01T10:00:00Z`, `2026-01-01t10:00:00.5+03:30`;
/// `T` may be a space) as Unix seconds, fractions dropped; `None` if it is
/// not one.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month)
        || day < 1
        || day > month_days[(month - 1) as usize]
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        i += digits;
    }
    let offset = match &b[i..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let off = h * 3600 + m * 60;
            if *sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset)
}

#[cfg(test)]
mod tests {
    use super::{iso8601_utc, parse_rfc3339};

    #[test]
    fn parses_rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00.000Z"), Some(951_782_400));
        assert_eq!(
            parse_rfc3339("2024-09-18T12:37:29+03:30"),
            Some(1_726_650_449)
        );
        assert_eq!(
            parse_rfc3339("2024-09-18 09:07:29.123456z"),
            Some(1_726_650_449)
        );
        for bad in [
            "",
            "2024-09-18",
            "2024-09-18T09:07:29",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-09-18T24:00:00Z",
            "2024-09-18T09:07:29.Z",
            "2024-09-18T09:07:29+0330",
            "1726650449",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(iso8601_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_utc(951_782_400), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601_utc(1_726_650_449), "2024-09-18T09:07:29.000Z");
    }
}

#[cfg(test)]
mod utc_tests {
    use super::*;

    /// The digit-by-digit path writes what `format!` writes, across the
    /// years either side of its range and the instants of a day.
    #[test]
    fn utc_matches_format() {
        let slow = |unix: i64, end: &str| {
            let (year, month, day, hour, minute, second) = civil(unix);
            format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{end}")
        };
        let mut unix = -62_200_000_000i64; // before year 0
        while unix < 253_500_000_000 {
            // past year 9999
            assert_eq!(iso8601_utc(unix), slow(unix, ".000Z"), "{unix}");
            assert_eq!(rfc3339_utc(unix), slow(unix, "Z"), "{unix}");
            let mut written = b"x".to_vec();
            write_rfc3339_utc(unix, &mut written);
            assert_eq!(
                written,
                format!("x{}", slow(unix, "Z")).into_bytes(),
                "{unix}"
            );
            unix += 86_399 * 37 + 1;
        }
        assert_eq!(iso8601_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_utc(1_764_601_446), "2025-12-01T15:04:06Z");
        assert_eq!(rfc3339_utc(-1), "1969-12-31T23:59:59Z");
    }
}
