//! date, time, timestamp and timestamptz, as PostgreSQL counts them: days or
//! microseconds since 2000-01-01 (UTC for timestamptz).
//!
//! * text: ISO (`DateStyle=ISO`): `2024-06-15`, `13:14:15.123456`,
//!   `2024-06-15 13:14:15.5`, `…+02` (any offset is read; `+00` is written),
//!   `0044-03-15 BC`, `infinity`, `-infinity`;
//! * PostgreSQL binary: i32 days / i64 µs, big-endian (infinity is the type's
//!   largest value, −infinity its smallest);
//! * HyperBinary: u32 Julian day / u64 µs since midnight / i64 µs since Julian day
//!   0, little-endian (docs/hyper.md §5).
//!
//! Years are astronomical in the API (0 is 1 BC, −1 is 2 BC), as in ISO 8601.

use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use super::{
    fixed, malformed, oid, out_of_range, utf8, write_display, wrong_type, ColumnType, FromSql,
    ToSql, ValueError,
};
use crate::codec::Format;

/// Microseconds in a day.
pub(crate) const DAY_US: i64 = 86_400_000_000;
/// 2000-01-01 counted from 1970-01-01.
const PG_EPOCH_FROM_UNIX: i64 = 10_957;
/// The Julian day of 2000-01-01: HyperBinary dates count from Julian day 0.
const PG_EPOCH_JULIAN: i64 = 2_451_545;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day counted from 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // day is 1..=31 and month 1..=12 by construction.
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 2000-01-01 of a valid date.
fn pg_days(year: i64, month: u32, day: u32) -> Option<i64> {
    (day >= 1 && day <= days_in_month(year, month))
        .then(|| days_from_civil(year, month, day) - PG_EPOCH_FROM_UNIX)
}

/// Writes `YYYY-MM-DD` for a day since 2000-01-01, with the `BC` flag apart.
fn write_date(f: &mut fmt::Formatter<'_>, days: i64) -> Result<bool, fmt::Error> {
    let (year, month, day) = civil_from_days(days + PG_EPOCH_FROM_UNIX);
    let bc = year <= 0;
    let shown = if bc { 1 - year } else { year };
    write!(f, "{shown:04}-{month:02}-{day:02}")?;
    Ok(bc)
}

/// Writes `HH:MM:SS[.ffffff]` (trailing zeros of the fraction dropped, as
/// PostgreSQL does).
fn write_time(f: &mut fmt::Formatter<'_>, us: i64) -> fmt::Result {
    let secs = us / 1_000_000;
    let frac = us % 1_000_000;
    write!(
        f,
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )?;
    if frac != 0 {
        let mut digits = 6;
        let mut frac = frac;
        while frac % 10 == 0 {
            frac /= 10;
            digits -= 1;
        }
        write!(f, ".{frac:0digits$}")?;
    }
    Ok(())
}

/// A run of ASCII digits as a number.
fn number(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `YYYY-MM-DD` (the year may have more digits) into days since 2000-01-01,
/// astronomical when `bc`.
fn parse_date(s: &str, bc: bool) -> Option<i64> {
    let mut parts = s.splitn(3, '-');
    let year = number(parts.next()?)?;
    let month = u32::try_from(number(parts.next()?)?).ok()?;
    let day = u32::try_from(number(parts.next()?)?).ok()?;
    let year = if bc {
        if year == 0 {
            return None;
        }
        1 - year
    } else {
        year
    };
    pg_days(year, month, day)
}

/// `HH:MM[:SS[.ffffff]]` into microseconds since midnight (up to 24:00:00).
fn parse_time(s: &str) -> Option<i64> {
    let mut parts = s.splitn(3, ':');
    let h = number(parts.next()?)?;
    let m = number(parts.next()?)?;
    let (sec, frac) = match parts.next() {
        Some(rest) => match rest.split_once('.') {
            Some((sec, frac)) => (number(sec)?, frac),
            None => (number(rest)?, ""),
        },
        None => (0, ""),
    };
    if frac.len() > 6 || (!frac.is_empty() && number(frac).is_none()) {
        return None;
    }
    let mut us = number(frac).unwrap_or(0);
    for _ in frac.len()..6 {
        us *= 10;
    }
    if m > 59 || sec > 59 {
        return None;
    }
    let total = ((h * 60 + m) * 60 + sec) * 1_000_000 + us;
    (total <= DAY_US).then_some(total)
}

/// `+HH`, `-HH:MM`, `+HH:MM:SS` into seconds east of UTC.
fn parse_offset(s: &str) -> Option<i64> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, s.get(1..)?),
        b'-' => (-1, s.get(1..)?),
        _ => return None,
    };
    let mut seconds = 0;
    let mut unit = 3600;
    for part in rest.split(':') {
        if unit == 0 || part.len() != 2 {
            return None;
        }
        seconds += number(part)? * unit;
        unit /= 60;
    }
    Some(sign * seconds)
}

/// Splits a trailing ` BC`.
fn strip_bc(s: &str) -> (&str, bool) {
    match s.strip_suffix(" BC") {
        Some(rest) => (rest, true),
        None => (s.strip_suffix(" AD").unwrap_or(s), false),
    }
}

/// Text that is not a date or time of the expected form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseDateTimeError;

impl fmt::Display for ParseDateTimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid date/time syntax or value out of range")
    }
}

impl core::error::Error for ParseDateTimeError {}

// ---- date ----

/// A date: days since 2000-01-01, or ±infinity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub i32);

impl Date {
    /// `infinity`.
    pub const INFINITY: Date = Date(i32::MAX);
    /// `-infinity`.
    pub const NEG_INFINITY: Date = Date(i32::MIN);

    /// The date `year-month-day` (astronomical year), if it exists and fits.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Date> {
        let days = pg_days(i64::from(year), month, day)?;
        let days = i32::try_from(days).ok()?;
        (days != i32::MAX && days != i32::MIN).then_some(Date(days))
    }

    /// The year (astronomical), month and day; `None` for ±infinity.
    pub fn ymd(self) -> Option<(i32, u32, u32)> {
        if self.is_infinite() {
            return None;
        }
        let (y, m, d) = civil_from_days(i64::from(self.0) + PG_EPOCH_FROM_UNIX);
        Some((i32::try_from(y).ok()?, m, d))
    }

    /// Whether this is `infinity` or `-infinity`.
    pub fn is_infinite(self) -> bool {
        self == Date::INFINITY || self == Date::NEG_INFINITY
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Date::INFINITY => f.write_str("infinity"),
            Date::NEG_INFINITY => f.write_str("-infinity"),
            Date(days) => {
                if write_date(f, i64::from(days))? {
                    f.write_str(" BC")?;
                }
                Ok(())
            }
        }
    }
}

impl FromStr for Date {
    type Err = ParseDateTimeError;
    /// `YYYY-MM-DD[ BC]`, `infinity`, `-infinity`.
    fn from_str(s: &str) -> Result<Date, ParseDateTimeError> {
        match s {
            "infinity" => return Ok(Date::INFINITY),
            "-infinity" => return Ok(Date::NEG_INFINITY),
            _ => {}
        }
        let (s, bc) = strip_bc(s);
        let days = parse_date(s, bc).ok_or(ParseDateTimeError)?;
        match i32::try_from(days) {
            Ok(d) if d != i32::MAX && d != i32::MIN => Ok(Date(d)),
            _ => Err(ParseDateTimeError),
        }
    }
}

impl ToSql for Date {
    fn type_oid(&self) -> u32 {
        oid::DATE
    }
    fn encode(&self, format: Format, out: &mut Vec<u8>) -> Result<bool, ValueError> {
        match format {
            Format::Text => write_display(out, self),
            Format::Binary => out.extend_from_slice(&self.0.to_be_bytes()),
            Format::HyperBinary => {
                let julian = u32::try_from(i64::from(self.0) + PG_EPOCH_JULIAN)
                    .ok()
                    .filter(|_| !self.is_infinite())
                    .ok_or(out_of_range("date", format))?;
                out.extend_from_slice(&julian.to_le_bytes());
            }
        }
        Ok(true)
    }
}

impl FromSql<'_> for Date {
    fn decode(ty: ColumnType, format: Format, raw: &[u8]) -> Result<Self, ValueError> {
        if ty.oid != oid::DATE {
            return Err(wrong_type("Date", ty));
        }
        match format {
            Format::Text => utf8(raw, "date", format)?
                .parse()
                .map_err(|_| malformed("date", format)),
            Format::Binary => Ok(Date(i32::from_be_bytes(fixed(raw, "date", format)?))),
            Format::HyperBinary => {
                let julian = u32::from_le_bytes(fixed(raw, "date", format)?);
                i32::try_from(i64::from(julian) - PG_EPOCH_JULIAN)
                    .map(Date)
                    .map_err(|_| out_of_range("date", format))
            }
        }
    }
}

// ---- time ----

/// A time of day without time zone: microseconds since midnight (0 to 24:00:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub i64);

impl Time {
    /// `hour:minute:second.micros`, if valid (24:00:00 is).
    pub fn from_hms_micro(hour: u32, minute: u32, second: u32, micro: u32) -> Option<Time> {
        if minute > 59 || second > 59 || micro > 999_999 {
            return None;
        }
        let us = (i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)) * 1_000_000
            + i64::from(micro);
        (us <= DAY_US).then_some(Time(us))
    }

    fn valid(self) -> bool {
        (0..=DAY_US).contains(&self.0)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_time(f, self.0)
    }
}

impl FromStr for Time {
    type Err = ParseDateTimeError;
    /// `HH:MM[:SS[.ffffff]]`.
    fn from_str(s: &str) -> Result<Time, ParseDateTimeError> {
        parse_time(s).map(Time).ok_or(ParseDateTimeError)
    }
}

impl ToSql for Time {
    fn type_oid(&self) -> u32 {
        oid::TIME
    }
    fn encode(&self, format: Format, out: &mut Vec<u8>) -> Result<bool, ValueError> {
        if !self.valid() {
            return Err(out_of_range("time", format));
        }
        match format {
            Format::Text => write_display(out, self),
            Format::Binary => out.extend_from_slice(&self.0.to_be_bytes()),
            Format::HyperBinary => out.extend_from_slice(&self.0.to_le_bytes()),
        }
        Ok(true)
    }
}

impl FromSql<'_> for Time {
    fn decode(ty: ColumnType, format: Format, raw: &[u8]) -> Result<Self, ValueError> {
        if ty.oid != oid::TIME {
            return Err(wrong_type("Time", ty));
        }
        let time = match format {
            Format::Text => utf8(raw, "time", format)?
                .parse()
                .map_err(|_| malformed("time", format))?,
            Format::Binary => Time(i64::from_be_bytes(fixed(raw, "time", format)?)),
            Format::HyperBinary => Time(i64::from_le_bytes(fixed(raw, "time", format)?)),
        };
        if time.valid() {
            Ok(time)
        } else {
            Err(malformed("time", format))
        }
    }
}

// ---- timestamp and timestamptz ----

/// Microseconds since 2000-01-01 in HyperBinary's count from Julian day 0.
const HYPER_OFFSET_US: i64 = PG_EPOCH_JULIAN * DAY_US;

macro_rules! timestamp {
    ($name:ident, $oid:expr, $sql:literal, $zone:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub i64);

        impl $name {
            /// `infinity`.
            pub const INFINITY: $name = $name(i64::MAX);
            /// `-infinity`.
            pub const NEG_INFINITY: $name = $name(i64::MIN);

            /// The instant at `time` on `date` (both finite).
            pub fn new(date: Date, time: Time) -> Option<$name> {
                if date.is_infinite() || !time.valid() {
                    return None;
                }
                let us = i64::from(date.0).checked_mul(DAY_US)?.checked_add(time.0)?;
                (us != i64::MAX && us != i64::MIN).then_some($name(us))
            }

            /// The date and the time of day; `None` for ±infinity.
            pub fn date_time(self) -> Option<(Date, Time)> {
                if self.is_infinite() {
                    return None;
                }
                let days = i32::try_from(self.0.div_euclid(DAY_US)).ok()?;
                Some((Date(days), Time(self.0.rem_euclid(DAY_US))))
            }

            /// Whether this is `infinity` or `-infinity`.
            pub fn is_infinite(self) -> bool {
                self == $name::INFINITY || self == $name::NEG_INFINITY
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match *self {
                    $name::INFINITY => f.write_str("infinity"),
                    $name::NEG_INFINITY => f.write_str("-infinity"),
                    $name(us) => {
                        let bc = write_date(f, us.div_euclid(DAY_US))?;
                        f.write_str(" ")?;
                        write_time(f, us.rem_euclid(DAY_US))?;
                        f.write_str($zone)?;
                        if bc {
                            f.write_str(" BC")?;
                        }
                        Ok(())
                    }
                }
            }
        }

        impl FromStr for $name {
            type Err = ParseDateTimeError;
            /// `YYYY-MM-DD HH:MM:SS[.ffffff][offset][ BC]` (a `T` separator too),
            /// `infinity`, `-infinity`. An offset is converted to UTC.
            fn from_str(s: &str) -> Result<$name, ParseDateTimeError> {
                match s {
                    "infinity" => return Ok($name::INFINITY),
                    "-infinity" => return Ok($name::NEG_INFINITY),
                    _ => {}
                }
                let (s, bc) = strip_bc(s);
                let (date, rest) = s.split_once([' ', 'T']).unwrap_or((s, "00:00:00"));
                let days = parse_date(date, bc).ok_or(ParseDateTimeError)?;
                let (time, offset) = match rest.find(['+', '-']) {
                    Some(at) => (
                        rest.get(..at).ok_or(ParseDateTimeError)?,
                        parse_offset(rest.get(at..).ok_or(ParseDateTimeError)?)
                            .ok_or(ParseDateTimeError)?,
                    ),
                    None => (rest.strip_suffix('Z').unwrap_or(rest), 0),
                };
                let time = parse_time(time).ok_or(ParseDateTimeError)?;
                let us = days
                    .checked_mul(DAY_US)
                    .and_then(|d| d.checked_add(time))
                    .and_then(|t| t.checked_sub(offset * 1_000_000))
                    .ok_or(ParseDateTimeError)?;
                if us == i64::MAX || us == i64::MIN {
                    return Err(ParseDateTimeError);
                }
                Ok($name(us))
            }
        }

        impl ToSql for $name {
            fn type_oid(&self) -> u32 {
                $oid
            }
            fn encode(&self, format: Format, out: &mut Vec<u8>) -> Result<bool, ValueError> {
                match format {
                    Format::Text => write_display(out, self),
                    Format::Binary => out.extend_from_slice(&self.0.to_be_bytes()),
                    Format::HyperBinary => {
                        let v = self
                            .0
                            .checked_add(HYPER_OFFSET_US)
                            .filter(|_| !self.is_infinite())
                            .ok_or(out_of_range($sql, format))?;
                        out.extend_from_slice(&v.to_le_bytes());
                    }
                }
                Ok(true)
            }
        }

        impl FromSql<'_> for $name {
            fn decode(ty: ColumnType, format: Format, raw: &[u8]) -> Result<Self, ValueError> {
                if ty.oid != $oid {
                    return Err(wrong_type(stringify!($name), ty));
                }
                match format {
                    Format::Text => utf8(raw, $sql, format)?
                        .parse()
                        .map_err(|_| malformed($sql, format)),
                    Format::Binary => Ok($name(i64::from_be_bytes(fixed(raw, $sql, format)?))),
                    Format::HyperBinary => i64::from_le_bytes(fixed(raw, $sql, format)?)
                        .checked_sub(HYPER_OFFSET_US)
                        .map($name)
                        .ok_or(out_of_range($sql, format)),
                }
            }
        }
    };
}

timestamp!(
    Timestamp,
    oid::TIMESTAMP,
    "timestamp",
    "",
    "A timestamp without time zone: microseconds since 2000-01-01 00:00, or ±infinity."
);
timestamp!(
    TimestampTz,
    oid::TIMESTAMPTZ,
    "timestamptz",
    "+00",
    "An instant (timestamp with time zone): microseconds since 2000-01-01 00:00 UTC, \
     or ±infinity. Text from the server in any time zone is converted to UTC."
);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use alloc::string::ToString;

    fn round<T: ToSql + for<'a> FromSql<'a> + PartialEq + fmt::Debug>(v: T, formats: &[Format]) {
        for f in formats {
            let mut out = Vec::new();
            v.encode(*f, &mut out).unwrap();
            assert_eq!(
                T::decode(v.type_oid().into(), *f, &out).unwrap(),
                v,
                "{f:?}"
            );
        }
    }

    const ALL: [Format; 3] = [Format::Text, Format::Binary, Format::HyperBinary];

    #[test]
    fn dates() {
        let d = Date::from_ymd(2024, 6, 15).unwrap();
        assert_eq!(d.to_string(), "2024-06-15");
        assert_eq!(d.ymd(), Some((2024, 6, 15)));
        assert_eq!(Date::from_ymd(2000, 1, 1), Some(Date(0)));
        assert_eq!(Date::from_ymd(1999, 12, 31), Some(Date(-1)));
        assert_eq!(Date::from_ymd(2023, 2, 29), None);
        assert_eq!(
            Date::from_ymd(-43, 3, 15).unwrap().to_string(),
            "0044-03-15 BC"
        );
        assert_eq!(
            "0044-03-15 BC".parse::<Date>().unwrap().ymd(),
            Some((-43, 3, 15))
        );
        assert_eq!(
            "5874897-12-31".parse::<Date>().unwrap().to_string(),
            "5874897-12-31"
        );
        // docs/hyper.md §5 and §6: 2024-06-15 is Julian day 2460477, 2024-01-01 2460311.
        let mut out = Vec::new();
        d.encode(Format::HyperBinary, &mut out).unwrap();
        assert_eq!(out, [0x3d, 0x8b, 0x25, 0x00]);
        assert_eq!(
            Date::decode(
                oid::DATE.into(),
                Format::HyperBinary,
                &[0x97, 0x8a, 0x25, 0]
            )
            .unwrap(),
            Date::from_ymd(2024, 1, 1).unwrap()
        );
        out.clear();
        d.encode(Format::Binary, &mut out).unwrap();
        assert_eq!(out, [0, 0, 0x22, 0xe4]);
        for v in [
            d,
            Date::INFINITY,
            Date::NEG_INFINITY,
            Date::from_ymd(-4712, 1, 1).unwrap(),
        ] {
            round(v, &[Format::Text, Format::Binary]);
        }
        round(Date::from_ymd(-4712, 1, 1).unwrap(), &ALL);
        assert!(Date::INFINITY
            .encode(Format::HyperBinary, &mut out)
            .is_err());
        for bad in ["2024-13-01", "2024-1-32", "x", "0000-01-01 BC", "2024-01"] {
            assert!(bad.parse::<Date>().is_err(), "{bad}");
        }
    }

    #[test]
    fn times() {
        let t: Time = "13:14:15.123456".parse().unwrap();
        assert_eq!(t, Time::from_hms_micro(13, 14, 15, 123_456).unwrap());
        assert_eq!(t.to_string(), "13:14:15.123456");
        assert_eq!(
            "13:14:15.5".parse::<Time>().unwrap().to_string(),
            "13:14:15.5"
        );
        assert_eq!("24:00:00".parse::<Time>().unwrap().0, DAY_US);
        let mut out = Vec::new();
        t.encode(Format::HyperBinary, &mut out).unwrap();
        assert_eq!(out, [0x00, 0x7a, 0x77, 0x18, 0x0b, 0, 0, 0]);
        round(t, &ALL);
        round(Time(0), &ALL);
        assert!(Time::decode(oid::TIME.into(), Format::Binary, &(-1i64).to_be_bytes()).is_err());
        assert!("25:00:00".parse::<Time>().is_err());
    }

    #[test]
    fn timestamps() {
        let ts: Timestamp = "2024-06-15 13:14:15.123456".parse().unwrap();
        let mut out = Vec::new();
        ts.encode(Format::HyperBinary, &mut out).unwrap();
        assert_eq!(out, [0x00, 0x5a, 0xe9, 0x05, 0x2b, 0x41, 0xf3, 0x02]);
        // 13:14:15.123456+02 is 11:14:15.123456 UTC.
        let tz: TimestampTz = "2024-06-15 13:14:15.123456+02".parse().unwrap();
        out.clear();
        tz.encode(Format::HyperBinary, &mut out).unwrap();
        assert_eq!(out, [0x00, 0x12, 0xc2, 0x58, 0x29, 0x41, 0xf3, 0x02]);
        assert_eq!(tz.to_string(), "2024-06-15 11:14:15.123456+00");
        assert_eq!(
            "2024-06-15 16:44:15.123456+05:30"
                .parse::<TimestampTz>()
                .unwrap(),
            tz
        );
        assert_eq!(
            "1900-01-01 00:00:00-00:09:21"
                .parse::<TimestampTz>()
                .unwrap()
                .to_string(),
            "1900-01-01 00:09:21+00"
        );
        assert_eq!(
            "0044-03-15 12:00:00 BC"
                .parse::<Timestamp>()
                .unwrap()
                .to_string(),
            "0044-03-15 12:00:00 BC"
        );
        for v in [
            ts,
            Timestamp(0),
            Timestamp(-1),
            Timestamp::INFINITY,
            Timestamp::NEG_INFINITY,
        ] {
            round(v, &[Format::Text, Format::Binary]);
        }
        round(ts, &ALL);
        round(tz, &ALL);
        round(TimestampTz::INFINITY, &[Format::Text, Format::Binary]);
        assert_eq!(
            Timestamp::new(Date(1), Time(5)).unwrap().date_time(),
            Some((Date(1), Time(5)))
        );
        // Hostile: a HyperBinary value whose PostgreSQL count underflows.
        assert!(Timestamp::decode(
            oid::TIMESTAMP.into(),
            Format::HyperBinary,
            &i64::MIN.to_le_bytes()
        )
        .is_err());
    }
}
