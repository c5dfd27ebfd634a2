//! interval: months, days and microseconds, kept apart as PostgreSQL does (a month
//! is not a fixed number of days, nor a day of hours across DST).
//!
//! * text: written in ISO 8601 (`P1Y2M3DT4H5M6.789S`), which PostgreSQL reads
//!   under every `IntervalStyle`; read in ISO 8601 (Hyper's style, and
//!   `IntervalStyle=iso_8601`) or PostgreSQL's default style
//!   (`1 year 2 mons 3 days 04:05:06.789`); `infinity` and `-infinity` (PG 17);
//! * PostgreSQL binary: i64 µs, i32 days, i32 months, big-endian;
//! * HyperBinary: the same fields in the same order, little-endian.

use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use super::datetime::ParseDateTimeError;
use super::{
    fixed, malformed, oid, utf8, write_display, wrong_type, ColumnType, FromSql, ToSql, ValueError,
};
use crate::codec::Format;

const SQL: &str = "interval";
const HOUR_US: i64 = 3_600_000_000;
const MINUTE_US: i64 = 60_000_000;

/// An interval: `months`, `days` and `micros` are independent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interval {
    /// Months (a year is 12).
    pub months: i32,
    /// Days.
    pub days: i32,
    /// Microseconds.
    pub micros: i64,
}

impl Interval {
    /// `infinity` (PostgreSQL 17): every field at its maximum.
    pub const INFINITY: Interval = Interval {
        months: i32::MAX,
        days: i32::MAX,
        micros: i64::MAX,
    };
    /// `-infinity` (PostgreSQL 17): every field at its minimum.
    pub const NEG_INFINITY: Interval = Interval {
        months: i32::MIN,
        days: i32::MIN,
        micros: i64::MIN,
    };

    /// An interval of these parts.
    pub const fn new(months: i32, days: i32, micros: i64) -> Interval {
        Interval {
            months,
            days,
            micros,
        }
    }

    fn to_bytes(self, big_endian: bool) -> [u8; 16] {
        let mut b = [0u8; 16];
        let (us, d, m) = if big_endian {
            (
                self.micros.to_be_bytes(),
                self.days.to_be_bytes(),
                self.months.to_be_bytes(),
            )
        } else {
            (
                self.micros.to_le_bytes(),
                self.days.to_le_bytes(),
                self.months.to_le_bytes(),
            )
        };
        for (dst, src) in b.iter_mut().zip(us.iter().chain(&d).chain(&m)) {
            *dst = *src;
        }
        b
    }

    fn from_bytes(raw: &[u8], format: Format) -> Result<Interval, ValueError> {
        let raw: [u8; 16] = fixed(raw, SQL, format)?;
        let (us, rest) = raw.split_at(8);
        let (d, m) = rest.split_at(4);
        let us = fixed::<8>(us, SQL, format)?;
        let d = fixed::<4>(d, SQL, format)?;
        let m = fixed::<4>(m, SQL, format)?;
        Ok(if format == Format::Binary {
            Interval::new(
                i32::from_be_bytes(m),
                i32::from_be_bytes(d),
                i64::from_be_bytes(us),
            )
        } else {
            Interval::new(
                i32::from_le_bytes(m),
                i32::from_le_bytes(d),
                i64::from_le_bytes(us),
            )
        })
    }
}

impl fmt::Display for Interval {
    /// ISO 8601 with a sign on each part, as PostgreSQL's `iso_8601` style writes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Interval::INFINITY => return f.write_str("infinity"),
            Interval::NEG_INFINITY => return f.write_str("-infinity"),
            Interval {
                months: 0,
                days: 0,
                micros: 0,
            } => return f.write_str("PT0S"),
            _ => {}
        }
        f.write_str("P")?;
        let (years, months) = (self.months / 12, self.months % 12);
        if years != 0 {
            write!(f, "{years}Y")?;
        }
        if months != 0 {
            write!(f, "{months}M")?;
        }
        if self.days != 0 {
            write!(f, "{}D", self.days)?;
        }
        if self.micros != 0 {
            f.write_str("T")?;
            let hours = self.micros / HOUR_US;
            let minutes = self.micros % HOUR_US / MINUTE_US;
            let seconds = self.micros % MINUTE_US;
            if hours != 0 {
                write!(f, "{hours}H")?;
            }
            if minutes != 0 {
                write!(f, "{minutes}M")?;
            }
            if seconds != 0 {
                if seconds < 0 {
                    f.write_str("-")?;
                }
                let s = seconds.unsigned_abs();
                write!(f, "{}", s / 1_000_000)?;
                let mut frac = s % 1_000_000;
                if frac != 0 {
                    let mut digits = 6;
                    while frac % 10 == 0 {
                        frac /= 10;
                        digits -= 1;
                    }
                    write!(f, ".{frac:0digits$}")?;
                }
                f.write_str("S")?;
            }
        }
        Ok(())
    }
}

/// A signed decimal (`-6.789`) as whole units and microseconds of a unit.
fn signed_decimal(s: &str) -> Option<(i64, i64)> {
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, s.get(1..)?),
        b'+' => (false, s.get(1..)?),
        _ => (false, s),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if (whole.is_empty() && frac.is_empty())
        || frac.len() > 6
        || !whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut micro: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..6 {
        micro *= 10;
    }
    Some(if negative {
        (-whole, -micro)
    } else {
        (whole, micro)
    })
}

/// Adds `n` units of `unit_us` microseconds, checked.
fn add_us(total: i64, whole: i64, micro: i64, unit_us: i64) -> Option<i64> {
    let part = whole
        .checked_mul(unit_us)?
        .checked_add(micro.checked_mul(unit_us / 1_000_000)?)?;
    total.checked_add(part)
}

/// ISO 8601: `P[nY][nM][nW][nD][T[nH][nM][n[.f]S]]`.
fn parse_iso(s: &str) -> Option<Interval> {
    let body = s.strip_prefix('P')?;
    let (date, time) = body.split_once('T').unwrap_or((body, ""));
    if date.is_empty() && time.is_empty() {
        return None;
    }
    let mut months: i32 = 0;
    let mut days: i32 = 0;
    let mut micros: i64 = 0;
    let mut rest = date;
    while !rest.is_empty() {
        let at = rest.find(|c: char| c.is_ascii_alphabetic())?;
        let (n, tail) = rest.split_at(at);
        let mut chars = tail.chars();
        let unit = chars.next()?;
        rest = chars.as_str();
        let n: i32 = n.parse().ok()?;
        match unit {
            'Y' => months = months.checked_add(n.checked_mul(12)?)?,
            'M' => months = months.checked_add(n)?,
            'W' => days = days.checked_add(n.checked_mul(7)?)?,
            'D' => days = days.checked_add(n)?,
            _ => return None,
        }
    }
    let mut rest = time;
    let mut any_time = false;
    while !rest.is_empty() {
        let at = rest.find(|c: char| c.is_ascii_alphabetic())?;
        let (n, tail) = rest.split_at(at);
        let mut chars = tail.chars();
        let unit = chars.next()?;
        rest = chars.as_str();
        let (whole, micro) = signed_decimal(n)?;
        let unit_us = match unit {
            'H' => HOUR_US,
            'M' => MINUTE_US,
            'S' => 1_000_000,
            _ => return None,
        };
        micros = add_us(micros, whole, micro, unit_us)?;
        any_time = true;
    }
    if !time.is_empty() && !any_time {
        return None;
    }
    Some(Interval::new(months, days, micros))
}

/// PostgreSQL's default style: `[n year[s]] [n mon[s]] [n day[s]] [[-]H:MM:SS[.f]]`.
fn parse_postgres(s: &str) -> Option<Interval> {
    let mut months: i32 = 0;
    let mut days: i32 = 0;
    let mut micros: i64 = 0;
    let mut words = s.split_ascii_whitespace();
    let mut seen = false;
    while let Some(word) = words.next() {
        seen = true;
        if word.contains(':') {
            let (negative, hms) = match word.as_bytes().first()? {
                b'-' => (true, word.get(1..)?),
                b'+' => (false, word.get(1..)?),
                _ => (false, word),
            };
            let mut parts = hms.splitn(3, ':');
            let h: i64 = parts.next()?.parse().ok()?;
            let m: i64 = parts.next()?.parse().ok()?;
            let (sec, micro) = signed_decimal(parts.next().unwrap_or("0"))?;
            if h < 0 || m < 0 || sec < 0 || micro < 0 {
                return None;
            }
            let t = add_us(
                add_us(add_us(0, h, 0, HOUR_US)?, m, 0, MINUTE_US)?,
                sec,
                micro,
                1_000_000,
            )?;
            micros = micros.checked_add(if negative { -t } else { t })?;
            continue;
        }
        let n: i32 = word.parse().ok()?;
        match words.next()? {
            "year" | "years" => months = months.checked_add(n.checked_mul(12)?)?,
            "mon" | "mons" => months = months.checked_add(n)?,
            "day" | "days" => days = days.checked_add(n)?,
            _ => return None,
        }
    }
    seen.then_some(Interval::new(months, days, micros))
}

impl FromStr for Interval {
    type Err = ParseDateTimeError;
    /// ISO 8601 or PostgreSQL's default output style (see the module docs).
    fn from_str(s: &str) -> Result<Interval, ParseDateTimeError> {
        match s {
            "infinity" => Ok(Interval::INFINITY),
            "-infinity" => Ok(Interval::NEG_INFINITY),
            s if s.starts_with('P') => parse_iso(s).ok_or(ParseDateTimeError),
            s => parse_postgres(s).ok_or(ParseDateTimeError),
        }
    }
}

impl ToSql for Interval {
    fn type_oid(&self) -> u32 {
        oid::INTERVAL
    }
    fn encode(&self, format: Format, out: &mut Vec<u8>) -> Result<bool, ValueError> {
        match format {
            Format::Text => write_display(out, self),
            Format::Binary => out.extend_from_slice(&self.to_bytes(true)),
            Format::HyperBinary => out.extend_from_slice(&self.to_bytes(false)),
        }
        Ok(true)
    }
}

impl FromSql<'_> for Interval {
    fn decode(ty: ColumnType, format: Format, raw: &[u8]) -> Result<Self, ValueError> {
        if ty.oid != oid::INTERVAL {
            return Err(wrong_type("Interval", ty));
        }
        match format {
            Format::Text => utf8(raw, SQL, format)?
                .parse()
                .map_err(|_| malformed(SQL, format)),
            _ => Interval::from_bytes(raw, format),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn text_forms() {
        let i = Interval::new(14, 3, 14_706_789_000);
        assert_eq!(i.to_string(), "P1Y2M3DT4H5M6.789S");
        assert_eq!("P1Y2M3DT4H5M6.789000S".parse::<Interval>().unwrap(), i);
        assert_eq!(
            "1 year 2 mons 3 days 04:05:06.789"
                .parse::<Interval>()
                .unwrap(),
            i
        );
        let neg = Interval::new(-14, 3, -14_706_789_000);
        assert_eq!(neg.to_string(), "P-1Y-2M3DT-4H-5M-6.789S");
        assert_eq!(neg.to_string().parse::<Interval>().unwrap(), neg);
        assert_eq!(
            "-1 years -2 mons +3 days -04:05:06.789"
                .parse::<Interval>()
                .unwrap(),
            neg
        );
        assert_eq!("00:00:00".parse::<Interval>().unwrap(), Interval::default());
        assert_eq!(Interval::default().to_string(), "PT0S");
        assert_eq!("PT0S".parse::<Interval>().unwrap(), Interval::default());
        assert_eq!(
            "PT-0.5S".parse::<Interval>().unwrap(),
            Interval::new(0, 0, -500_000)
        );
        assert_eq!(Interval::new(0, 0, -500_000).to_string(), "PT-0.5S");
        assert_eq!(
            "100:00:00".parse::<Interval>().unwrap(),
            Interval::new(0, 0, 100 * HOUR_US)
        );
        for bad in ["", "P", "PT", "1 fortnight", "P1X", "PT1.1234567S", "1:2:x"] {
            assert!(bad.parse::<Interval>().is_err(), "{bad}");
        }
    }

    #[test]
    fn binary_layouts() {
        let i = Interval::new(14, 3, 14_706_789_000);
        let mut out = Vec::new();
        i.encode(Format::HyperBinary, &mut out).unwrap();
        // docs/hyper.md §5.
        assert_eq!(
            out,
            [0x88, 0xca, 0x97, 0x6c, 0x03, 0, 0, 0, 3, 0, 0, 0, 0x0e, 0, 0, 0]
        );
        for f in [Format::Text, Format::Binary, Format::HyperBinary] {
            for v in [
                i,
                Interval::INFINITY,
                Interval::NEG_INFINITY,
                Interval::new(i32::MIN + 1, -1, i64::MIN + 1),
            ] {
                let mut out = Vec::new();
                v.encode(f, &mut out).unwrap();
                assert_eq!(
                    Interval::decode(oid::INTERVAL.into(), f, &out).unwrap(),
                    v,
                    "{f:?} {v}"
                );
            }
        }
    }
}
