//! The poll cadence: how long the poller waits after a poll before the next one.
//!
//! Owns: the rule (at least the configured interval; stretched so that the console's CPU over a
//! poll cycle stays within its budget) and reading the process's CPU time. May not touch: the
//! poll itself or the state.
//!
//! Why: a poll costs the console CPU in proportion to the fleet (~0.3 ms a command a host:
//! status and host facts for 1000 hosts are ~0.6 s). At a fixed 5 s that is ~12 % of a core for
//! an idle screen; the budget (default 2 %) makes a 1000-host poll run every ~30 s instead,
//! while 50 hosts (~0.03 s a poll) still poll every 5 s.

use std::time::Duration;

/// The shortest interval and the CPU budget (a share of one core; `0` = no budget).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cadence {
    pub every: Duration,
    pub budget: f64,
}

impl Cadence {
    /// The wait after a poll that took `wall` and cost `cpu` of the process's CPU time: the
    /// configured interval, or longer so that `cpu` is at most `budget` of the whole cycle
    /// (`wall` + wait).
    pub fn wait_after(&self, wall: Duration, cpu: Duration) -> Duration {
        if self.budget <= 0.0 || !self.budget.is_finite() {
            return self.every;
        }
        let cycle = cpu.as_secs_f64() / self.budget;
        let stretched = (cycle - wall.as_secs_f64()).clamp(0.0, 3600.0);
        self.every.max(Duration::from_secs_f64(stretched))
    }

    /// Did the budget stretch this wait (by more than a second)?
    pub fn stretched(&self, wait: Duration) -> bool {
        wait > self.every + Duration::from_secs(1)
    }
}

/// CPU time (user + system) of this process so far, all threads.
pub fn process_cpu() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct we pass; RUSAGE_SELF is always valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &raw mut ru) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(f64) -> Duration = Duration::from_secs_f64;

    #[test]
    fn a_cheap_poll_keeps_the_interval() {
        let c = Cadence {
            every: S(5.0),
            budget: 0.02,
        };
        // 50 hosts: ~30 ms of CPU a poll; 1.5 s cycle < 5 s
        assert_eq!(c.wait_after(S(0.4), S(0.03)), S(5.0));
        assert!(!c.stretched(c.wait_after(S(0.4), S(0.03))));
    }

    #[test]
    fn a_costly_poll_is_spread_to_the_budget() {
        let c = Cadence {
            every: S(5.0),
            budget: 0.02,
        };
        // 1000 hosts: 0.6 s of CPU in a 7 s poll: a 30 s cycle, 23 s after the poll
        let w = c.wait_after(S(7.0), S(0.6));
        assert!((w.as_secs_f64() - 23.0).abs() < 1e-6, "{w:?}");
        assert!(c.stretched(w));
        // the cycle's CPU share is the budget
        let share = 0.6 / (7.0 + w.as_secs_f64());
        assert!((share - 0.02).abs() < 1e-9, "{share}");
    }

    #[test]
    fn no_budget_means_the_interval() {
        for budget in [0.0, -1.0, f64::NAN] {
            let c = Cadence {
                every: S(5.0),
                budget,
            };
            assert_eq!(c.wait_after(S(7.0), S(10.0)), S(5.0));
        }
    }

    #[test]
    fn the_wait_is_bounded() {
        let c = Cadence {
            every: S(5.0),
            budget: 1e-9,
        };
        assert_eq!(c.wait_after(S(1.0), S(1.0)), S(3600.0));
    }

    #[test]
    fn process_cpu_advances_with_work() {
        let a = process_cpu();
        let mut x = 0u64;
        let t = std::time::Instant::now();
        while t.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        }
        std::hint::black_box(x);
        assert!(process_cpu() > a);
    }
}
