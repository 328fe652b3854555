//! Maintenance windows: `Mon-Fri 08:00-18:00 UTC` (pure).
//!
//! May not touch: the clock (the time is passed in), files.

use chrono::{DateTime, Datelike, Timelike, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Days of week allowed, Monday = 0.
    pub days: [bool; 7],
    /// Minutes after midnight UTC, start inclusive, end exclusive (end < start wraps midnight).
    pub start: u32,
    pub end: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("maintenance window `{0}` is not `DAYS HH:MM-HH:MM UTC` (e.g. `Mon-Fri 08:00-18:00 UTC`)")]
pub struct WindowError(pub String);

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn day(s: &str) -> Option<usize> {
    let l = s.to_ascii_lowercase();
    DAYS.iter().position(|d| l.starts_with(d) && l.len() >= 3)
}

fn hm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 1440).then_some(h * 60 + m)
}

impl Window {
    pub fn parse(text: &str) -> Result<Window, WindowError> {
        let err = || WindowError(text.to_string());
        let parts: Vec<&str> = text.split_whitespace().collect();
        let (days_s, time_s) = match parts.as_slice() {
            [d, t] | [d, t, "UTC" | "utc"] => (*d, *t),
            _ => return Err(err()),
        };
        let mut days = [false; 7];
        for piece in days_s.split(',') {
            match piece.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day(a).ok_or_else(err)?, day(b).ok_or_else(err)?);
                    let mut i = a;
                    loop {
                        days[i] = true;
                        if i == b {
                            break;
                        }
                        i = (i + 1) % 7;
                    }
                }
                None => days[day(piece).ok_or_else(err)?] = true,
            }
        }
        let (a, b) = time_s.split_once('-').ok_or_else(err)?;
        Ok(Window {
            days,
            start: hm(a).ok_or_else(err)?,
            end: hm(b).ok_or_else(err)?,
        })
    }

    /// True when `now` lies inside the window.
    pub fn contains(&self, now: DateTime<Utc>) -> bool {
        let wd = now.weekday().num_days_from_monday() as usize;
        let m = now.hour() * 60 + now.minute();
        if self.start <= self.end {
            self.days[wd] && m >= self.start && m < self.end
        } else {
            // Wraps midnight: the part after midnight belongs to the previous day.
            (self.days[wd] && m >= self.start) || (self.days[(wd + 6) % 7] && m < self.end)
        }
    }
}

/// No windows means always allowed.
pub fn allowed(windows: &[Window], now: DateTime<Utc>) -> bool {
    windows.is_empty() || windows.iter().any(|w| w.contains(now))
}
