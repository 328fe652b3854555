//! A bounded ring buffer of timestamped values per series, for rates and sparklines.
//!
//! Owns: [`Series`]. May not touch: clocks (callers pass timestamps in ms), I/O.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// The last `cap` points of one series, oldest first. Timestamps are ms since the epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    cap: usize,
    points: VecDeque<(i64, f64)>,
}

impl Series {
    /// A series keeping at most `cap` points (at least 1).
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        Series {
            cap,
            points: VecDeque::with_capacity(cap),
        }
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Append a point; the oldest is dropped when full. A point older than the last one is ignored
    /// (returns false) so that rates never see time going backwards; same timestamp replaces the value.
    pub fn push(&mut self, t_ms: i64, value: f64) -> bool {
        if let Some(&(last_t, _)) = self.points.back() {
            if t_ms < last_t {
                return false;
            }
            if t_ms == last_t {
                if let Some(last) = self.points.back_mut() {
                    last.1 = value;
                }
                return true;
            }
        }
        if self.points.len() == self.cap {
            self.points.pop_front();
        }
        self.points.push_back((t_ms, value));
        true
    }

    pub fn last(&self) -> Option<(i64, f64)> {
        self.points.back().copied()
    }

    pub fn points(&self) -> impl DoubleEndedIterator<Item = (i64, f64)> + ExactSizeIterator + '_ {
        self.points.iter().copied()
    }

    /// Points with `t >= since_ms`.
    pub fn window(&self, since_ms: i64) -> impl Iterator<Item = (i64, f64)> + '_ {
        // points are time-ordered: skip from the front
        let start = self.points.partition_point(|&(t, _)| t < since_ms);
        self.points.range(start..).copied()
    }

    /// Change per second between the first point at or after `since_ms` and the last point. `None` with
    /// fewer than two points in the window. For counters, a decrease (restart) yields `None`.
    pub fn rate_per_sec(&self, since_ms: i64) -> Option<f64> {
        let mut w = self.window(since_ms);
        let (t0, v0) = w.next()?;
        let (t1, v1) = w.last()?;
        if t1 <= t0 {
            return None;
        }
        Some((v1 - v0) * 1000.0 / (t1 - t0) as f64)
    }

    /// Like [`Series::rate_per_sec`] but for monotonic counters: `None` if the counter went down.
    pub fn counter_rate_per_sec(&self, since_ms: i64) -> Option<f64> {
        let mut prev: Option<f64> = None;
        for (_, v) in self.window(since_ms) {
            if prev.is_some_and(|p| v < p) {
                return None;
            }
            prev = Some(v);
        }
        self.rate_per_sec(since_ms)
    }

    /// Smallest value in the window (NaN ignored).
    pub fn min(&self, since_ms: i64) -> Option<f64> {
        self.window(since_ms)
            .map(|(_, v)| v)
            .filter(|v| !v.is_nan())
            .reduce(f64::min)
    }

    /// Largest value in the window (NaN ignored).
    pub fn max(&self, since_ms: i64) -> Option<f64> {
        self.window(since_ms)
            .map(|(_, v)| v)
            .filter(|v| !v.is_nan())
            .reduce(f64::max)
    }

    /// Whether the value changed in the window (e.g. head slot advancing). `None` with < 2 points.
    pub fn changed(&self, since_ms: i64) -> Option<bool> {
        let mut w = self.window(since_ms);
        let first = w.next()?.1;
        let mut n = 1;
        let mut changed = false;
        for (_, v) in w {
            n += 1;
            changed |= v != first;
        }
        (n >= 2).then_some(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_ordered() {
        let mut s = Series::new(3);
        for i in 0..5 {
            assert!(s.push(i * 1000, i as f64));
        }
        assert_eq!(s.len(), 3);
        assert_eq!(
            s.points().collect::<Vec<_>>(),
            vec![(2000, 2.0), (3000, 3.0), (4000, 4.0)]
        );
        assert!(!s.push(1000, 9.0), "older point is refused");
        assert!(s.push(4000, 7.0));
        assert_eq!(s.last(), Some((4000, 7.0)));
        assert_eq!(s.len(), 3);
        assert_eq!(Series::new(0).cap(), 1);
    }

    #[test]
    fn rates_and_window() {
        let mut s = Series::new(10);
        s.push(0, 100.0);
        s.push(10_000, 110.0);
        s.push(20_000, 130.0);
        assert_eq!(s.rate_per_sec(0), Some(1.5));
        assert_eq!(s.rate_per_sec(10_000), Some(2.0));
        assert_eq!(s.rate_per_sec(20_000), None);
        assert_eq!(s.min(5_000), Some(110.0));
        assert_eq!(s.max(0), Some(130.0));
        assert_eq!(s.min(30_000), None);
        s.push(30_000, 5.0);
        assert_eq!(s.counter_rate_per_sec(0), None, "counter reset");
        assert_eq!(s.changed(0), Some(true));
        let mut flat = Series::new(4);
        flat.push(0, 1.0);
        assert_eq!(flat.changed(0), None);
        flat.push(1, 1.0);
        assert_eq!(flat.changed(0), Some(false));
    }

    #[test]
    fn nan_is_ignored_by_min_max() {
        let mut s = Series::new(4);
        s.push(0, f64::NAN);
        s.push(1, 2.0);
        assert_eq!(s.max(0), Some(2.0));
    }
}
