//! The sandbox clock and Zoho's date/time formats.
//!
//! Every timestamp the sandbox produces comes from [`Clock`], which is either
//! real time plus an offset or a fixed instant. Tests move it with
//! [`Clock::set`] / [`Clock::advance`] instead of sleeping.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Real time plus this many milliseconds.
    Offset(i64),
    /// Frozen at this instant (advanced only explicitly).
    Fixed(Millis),
}

/// A settable clock shared by every part of the sandbox.
#[derive(Debug)]
pub struct Clock {
    mode: Mutex<Mode>,
}

impl Default for Clock {
    fn default() -> Self {
        Self::real()
    }
}

fn system_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Clock {
    /// Real time.
    pub fn real() -> Self {
        Clock {
            mode: Mutex::new(Mode::Offset(0)),
        }
    }

    /// A clock frozen at `ms`.
    pub fn fixed(ms: Millis) -> Self {
        Clock {
            mode: Mutex::new(Mode::Fixed(ms)),
        }
    }

    /// Current time in milliseconds.
    pub fn now_ms(&self) -> Millis {
        match *self.mode.lock().unwrap() {
            Mode::Offset(o) => system_ms() + o,
            Mode::Fixed(t) => t,
        }
    }

    /// Freeze the clock at `ms`.
    pub fn set(&self, ms: Millis) {
        *self.mode.lock().unwrap() = Mode::Fixed(ms);
    }

    /// Let the clock run in real time again, starting from `ms`.
    pub fn set_running(&self, ms: Millis) {
        *self.mode.lock().unwrap() = Mode::Offset(ms - system_ms());
    }

    /// Move the clock forward (or backward with a negative value).
    pub fn advance(&self, delta_ms: i64) {
        let mut m = self.mode.lock().unwrap();
        *m = match *m {
            Mode::Offset(o) => Mode::Offset(o + delta_ms),
            Mode::Fixed(t) => Mode::Fixed(t + delta_ms),
        };
    }

    /// Whether the clock is frozen.
    pub fn is_fixed(&self) -> bool {
        matches!(*self.mode.lock().unwrap(), Mode::Fixed(_))
    }
}

// ---------------------------------------------------------------------------
// Civil-date arithmetic (Howard Hinnant's algorithms), UTC only.

/// Days since 1970-01-01 → (year, month, day).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn split(ms: Millis) -> (i64, u32, u32, u32, u32, u32) {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    (
        y,
        mo,
        d,
        (sod / 3600) as u32,
        ((sod % 3600) / 60) as u32,
        (sod % 60) as u32,
    )
}

/// CRM format: `2023-10-15T10:30:00+00:00` (colon in the offset).
pub fn fmt_crm(ms: Millis) -> String {
    let (y, mo, d, h, mi, s) = split(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}+00:00")
}

/// Finance (Books/Invoice/Billing) format: `2013-10-07T18:24:51+0000`.
pub fn fmt_finance(ms: Millis) -> String {
    let (y, mo, d, h, mi, s) = split(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}+0000")
}

/// A date, `yyyy-mm-dd`.
pub fn fmt_date(ms: Millis) -> String {
    let (y, mo, d, ..) = split(ms);
    format!("{y:04}-{mo:02}-{d:02}")
}

/// Parse `yyyy-mm-dd` to days since the epoch.
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = s[0..4].parse().ok()?;
    let m: u32 = s[5..7].parse().ok()?;
    let d: u32 = s[8..10].parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// Parse an ISO-8601 date-time as Zoho clients send it: `YYYY-MM-DDTHH:MM:SS`
/// followed by `Z`, `±HH:MM` or `±HHMM` (optionally with fractional seconds).
/// A bare date is taken as midnight UTC.
pub fn parse_datetime(s: &str) -> Option<Millis> {
    let s = s.trim();
    if s.len() == 10 {
        return parse_date(s).map(|d| d * 86_400_000);
    }
    if s.len() < 19 {
        return None;
    }
    let days = parse_date(&s[0..10])?;
    let sep = s.as_bytes()[10];
    if sep != b'T' && sep != b' ' {
        return None;
    }
    let h: i64 = s[11..13].parse().ok()?;
    let mi: i64 = s[14..16].parse().ok()?;
    let sec: i64 = s[17..19].parse().ok()?;
    let mut rest = &s[19..];
    let mut frac_ms = 0i64;
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(|c| c.is_ascii_digit()).count();
        let digits = &r[..n];
        let padded = format!("{digits:0<3}");
        frac_ms = padded[..3].parse().ok()?;
        rest = &r[n..];
    }
    let offset_min: i64 = if rest.is_empty() || rest == "Z" || rest == "z" {
        0
    } else {
        let sign = match rest.as_bytes()[0] {
            b'+' | b' ' => 1, // a '+' that was not URL-encoded arrives as a space
            b'-' => -1,
            _ => return None,
        };
        let digits: String = rest[1..].chars().filter(|c| *c != ':').collect();
        if digits.len() != 4 {
            return None;
        }
        let oh: i64 = digits[0..2].parse().ok()?;
        let om: i64 = digits[2..4].parse().ok()?;
        sign * (oh * 60 + om)
    };
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    Some(secs * 1000 + frac_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let ms = parse_datetime("2023-10-15T10:30:00+05:30").unwrap();
        assert_eq!(fmt_crm(ms), "2023-10-15T05:00:00+00:00");
        assert_eq!(fmt_finance(ms), "2023-10-15T05:00:00+0000");
        assert_eq!(
            parse_datetime("2013-11-18T02:02:51-0800").unwrap(),
            parse_datetime("2013-11-18T10:02:51Z").unwrap()
        );
        assert_eq!(fmt_date(0), "1970-01-01");
        assert_eq!(
            parse_date("2024-02-29")
                .map(|d| fmt_date(d * 86_400_000))
                .unwrap(),
            "2024-02-29"
        );
        assert_eq!(
            parse_datetime("2023-10-15T10:30:00.250Z").unwrap() % 1000,
            250
        );
    }

    #[test]
    fn clock_moves() {
        let c = Clock::fixed(1000);
        c.advance(500);
        assert_eq!(c.now_ms(), 1500);
    }
}
