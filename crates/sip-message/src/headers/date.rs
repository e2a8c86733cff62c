//! Date (RFC 3261 §20.17): `rfc1123-date`, always GMT.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::TypedHeader;
use crate::header_name::HeaderName;
use crate::lex;

const WKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A point in time, as seconds since the Unix epoch (UTC).
///
/// ```
/// use sip_message::headers::{Date, TypedHeader};
/// let d = Date::from_value("Sat, 13 Nov 2010 23:29:00 GMT")?;
/// assert_eq!(d.unix_seconds(), 1289690940);
/// assert_eq!(d.to_string(), "Sat, 13 Nov 2010 23:29:00 GMT");
/// # Ok::<(), sip_message::HeaderError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date(u64);

impl Date {
    /// From seconds since the epoch.
    pub fn from_unix_seconds(s: u64) -> Date {
        Date(s)
    }
    /// From a system time (sub-second part dropped; times before 1970 clamp to it).
    pub fn from_system_time(t: SystemTime) -> Date {
        Date(t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
    }
    /// Seconds since the epoch.
    pub fn unix_seconds(self) -> u64 {
        self.0
    }
    /// As a system time.
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.0)
    }
}

// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

impl TypedHeader for Date {
    const NAME: HeaderName = HeaderName::Date;
    fn decode(_src: &Bytes, value: &[u8]) -> Option<Self> {
        // wkday "," SP 2DIGIT SP month SP 4DIGIT SP 2DIGIT ":" 2DIGIT ":" 2DIGIT SP "GMT"
        let v = lex::trim(value);
        let s = std::str::from_utf8(v).ok()?;
        let (wk, rest) = s.split_once(", ")?;
        if !WKDAYS.contains(&wk) {
            return None;
        }
        let mut it = rest.split(' ');
        let (day, mon, year, time, zone) =
            (it.next()?, it.next()?, it.next()?, it.next()?, it.next()?);
        if it.next().is_some()
            || zone != "GMT"
            || day.len() != 2
            || year.len() != 4
            || time.len() != 8
        {
            return None;
        }
        let num = |t: &str| -> Option<u32> {
            t.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| t.parse().ok())
                .flatten()
        };
        let d = num(day)?;
        let m = MONTHS.iter().position(|x| *x == mon)? as u32 + 1;
        let y = num(year)?;
        let mut hms = time.split(':');
        let (h, mi, se) = (num(hms.next()?)?, num(hms.next()?)?, num(hms.next()?)?);
        if !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 || y < 1970 {
            return None;
        }
        let days = days_from_civil(i64::from(y), m, d);
        let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + se);
        u64::try_from(secs).ok().map(Date)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = (self.0 / 86_400) as i64;
        let rem = self.0 % 86_400;
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
            WKDAYS[(days % 7) as usize],
            d,
            MONTHS[(m - 1) as usize],
            y,
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3261_20_17_gmt_only() {
        assert!(Date::from_value("Fri, 01 Jan 2010 16:00:00 EST").is_err());
        assert!(Date::from_value("Thu, 21 Feb 2002 13:02:03 GMT").is_ok());
        for s in [0u64, 951_782_400, 1_700_000_000, 4_102_444_800] {
            let d = Date::from_unix_seconds(s);
            assert_eq!(Date::from_value(&d.to_string()).unwrap(), d);
        }
    }
}
