//! Progress of `upgrade`, `rollback` and `apply` on **stderr**, from the engine's progress events
//! (`nodeherd_engine::upgrade::progress`): on a terminal, one status line per running node,
//! redrawn in place under the lines that stay (batches started, nodes finished); without one,
//! plain timestamped lines, one per state change (uploads every 25 % or 10 s, gate waits when
//! the probe's answer changes or every 10 s, quiet-window waits when the blocking duty changes or
//! every 10 s). stdout is never written, so `--json` stays one
//! document; `-q/--quiet` turns it off.
//!
//! Owns: the wording and the drawing of progress. May not touch: the summary and the plan (the
//! command prints them), the engine's work.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Output;
use nodeherd_core::text::sanitize;
use nodeherd_engine::upgrade::progress::{Progress, Reporter, Sink, Step};

/// Plain mode repeats a waiting line at most this often when nothing changed.
const REPEAT: Duration = Duration::from_secs(10);

/// How progress is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A terminal `width` columns wide: the running nodes' lines redrawn in place.
    Live { width: usize },
    /// Plain lines, each with a timestamp.
    Plain,
}

/// The text drawn for events, kept between them. Pure: every call returns the bytes to write.
#[derive(Debug)]
pub struct Render {
    mode: Mode,
    /// Running nodes in the order they started: (node, when, what it does now).
    live: Vec<(String, Instant, String)>,
    /// Lines of the live block on screen now.
    drawn: usize,
    /// Plain mode: per node, the last upload line's (quarter, bytes, when).
    uploads: HashMap<String, (u64, u64, Instant)>,
    /// Plain mode: per node, the last gate line's (words, when).
    gates: HashMap<String, (String, Instant)>,
}

fn mb(b: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let m = b as f64 / 1_000_000.0;
    format!("{m:.1} MB")
}

fn percent(sent: u64, total: u64) -> u64 {
    (sent.saturating_mul(100)).checked_div(total).unwrap_or(100)
}

/// What a step says, in words (server text sanitized).
pub fn describe(step: &Step) -> String {
    match step {
        Step::Locking => "locking".into(),
        Step::Locked => "locked".into(),
        Step::CheckingHealth => "checking health before the change".into(),
        Step::Uploading { sent, total } => format!(
            "uploading {} / {} ({}%)",
            mb(*sent),
            mb(*total),
            percent(*sent, *total)
        ),
        Step::Unpacking => "verifying and unpacking on the host".into(),
        Step::Staged => "staged".into(),
        Step::WaitingForQuiet => "waiting for a window without validator duties".into(),
        Step::Quiet {
            blocker,
            next_in,
            gives_up_in,
        } => nodeherd_engine::upgrade::progress::quiet_text(blocker, *next_in, *gives_up_in),
        Step::Switching => "switching".into(),
        Step::Switched => "switched, health gate next".into(),
        Step::Gate {
            elapsed,
            timeout,
            said,
        } => format!(
            "gate waiting {}s/{}s: {}",
            elapsed.as_secs(),
            timeout.as_secs(),
            sanitize(said)
        ),
        Step::GatePassed => "gate passed".into(),
        Step::Confirmed => "confirmed".into(),
        Step::RewritingUnit => "rewriting the unit file".into(),
        Step::RollingBack { reason } => format!("rolling back: {}", sanitize(reason)),
        Step::RolledBack => "rolled back".into(),
    }
}

fn batch_line(index: usize, of: usize, canary: bool, nodes: &[String]) -> String {
    let canary = if canary { " (canary)" } else { "" };
    format!("batch {index}/{of}{canary}: {}", nodes.join(", "))
}

fn finished_line(node: &str, result: &str, failed: bool, detail: &str) -> String {
    if failed {
        format!("{node}: finished: {result}: {}", sanitize(detail))
    } else {
        format!("{node}: finished: {result}")
    }
}

impl Render {
    pub fn new(mode: Mode) -> Render {
        Render {
            mode,
            live: Vec::new(),
            drawn: 0,
            uploads: HashMap::new(),
            gates: HashMap::new(),
        }
    }

    /// The bytes to write for `p`, seen at `now` (`stamp`: the wall clock's words for it).
    pub fn feed(&mut self, p: &Progress, now: Instant, stamp: &str) -> String {
        match self.mode {
            Mode::Plain => self
                .plain(p, now)
                .map(|l| format!("{stamp} {l}\n"))
                .unwrap_or_default(),
            Mode::Live { width } => self.live(p, now, width),
        }
    }

    /// Plain mode: the line for `p`, or none when it would repeat itself too soon.
    fn plain(&mut self, p: &Progress, now: Instant) -> Option<String> {
        match p {
            Progress::Batch {
                index,
                of,
                canary,
                nodes,
            } => Some(batch_line(*index, *of, *canary, nodes)),
            Progress::Finished {
                node,
                result,
                failed,
                detail,
            } => Some(finished_line(node, result, *failed, detail)),
            Progress::Node { node, step } => {
                let show = match step {
                    Step::Uploading { sent, total } => {
                        let q = percent(*sent, *total) / 25;
                        let show = match self.uploads.get(node) {
                            None => true,
                            Some(&(lq, lsent, at)) => {
                                *sent != lsent && (q != lq || sent == total || now - at >= REPEAT)
                            }
                        };
                        if show {
                            self.uploads.insert(node.clone(), (q, *sent, now));
                        }
                        show
                    }
                    // the gate's probe answer, or what blocks the quiet window (reported every
                    // second): shown when it changes or every REPEAT
                    Step::Gate { said: words, .. } | Step::Quiet { blocker: words, .. } => {
                        let show = self
                            .gates
                            .get(node)
                            .is_none_or(|(l, at)| l != words || now - *at >= REPEAT);
                        if show {
                            self.gates.insert(node.clone(), (words.clone(), now));
                        }
                        show
                    }
                    _ => true,
                };
                show.then(|| format!("{node}: {}", describe(step)))
            }
        }
    }

    /// Live mode: erase the block, write the lines that stay, redraw the block.
    fn live(&mut self, p: &Progress, now: Instant, width: usize) -> String {
        let mut stay = None;
        match p {
            Progress::Batch {
                index,
                of,
                canary,
                nodes,
            } => stay = Some(batch_line(*index, *of, *canary, nodes)),
            Progress::Finished {
                node,
                result,
                failed,
                detail,
            } => {
                let took = self
                    .live
                    .iter()
                    .find(|(n, ..)| n == node)
                    .map(|(_, at, _)| format!(" after {}s", (now - *at).as_secs()))
                    .unwrap_or_default();
                self.live.retain(|(n, ..)| n != node);
                stay = Some(format!(
                    "{}{took}",
                    finished_line(node, result, *failed, detail)
                ));
            }
            Progress::Node { node, step } => {
                let text = describe(step);
                match self.live.iter_mut().find(|(n, ..)| n == node) {
                    Some(l) => l.2 = text,
                    None => self.live.push((node.clone(), now, text)),
                }
            }
        }
        let mut out = self.erase();
        if let Some(l) = stay {
            out.push_str(&super::table::clip(&l, width.saturating_sub(1)));
            out.push('\n');
        }
        out.push_str(&self.block(now, width));
        out
    }

    /// Live mode: redraw the block so its clocks move while a step takes long (nothing to do
    /// in plain mode or with no node running).
    pub fn tick(&mut self, now: Instant) -> String {
        match self.mode {
            Mode::Live { width } if !self.live.is_empty() => {
                let mut out = self.erase();
                out.push_str(&self.block(now, width));
                out
            }
            _ => String::new(),
        }
    }

    fn block(&mut self, now: Instant, width: usize) -> String {
        let mut out = String::new();
        for (node, at, text) in &self.live {
            let line = format!("{node} [{}s] {text}", (now - *at).as_secs());
            out.push_str(&super::table::clip(&line, width.saturating_sub(1)));
            out.push('\n');
        }
        self.drawn = self.live.len();
        out
    }

    /// Live mode: move up over the block and clear it (nothing in plain mode).
    fn erase(&mut self) -> String {
        let out = match (self.mode, self.drawn) {
            (Mode::Plain, _) | (_, 0) => String::new(),
            (Mode::Live { .. }, n) => format!("\r\x1b[{n}A\x1b[J"),
        };
        self.drawn = 0;
        out
    }

    /// The end of the run: the live block is removed (the summary says how each node ended).
    pub fn finish(&mut self) -> String {
        self.live.clear();
        self.erase()
    }
}

/// Progress written to stderr as it comes.
struct Stderr(Mutex<Render>);

impl Stderr {
    fn write(&self, f: impl FnOnce(&mut Render) -> String) {
        let mut r = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let text = f(&mut r);
        if !text.is_empty() {
            let mut e = std::io::stderr().lock();
            let _ = e.write_all(text.as_bytes());
            let _ = e.flush();
        }
    }
}

impl Sink for Stderr {
    fn report(&self, p: Progress) {
        let stamp = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        self.write(|r| r.feed(&p, Instant::now(), &stamp));
    }
}

/// The progress of one run: hand [`Display::reporter`] to the engine, call
/// [`Display::finish`] before printing the summary.
pub struct Display(Option<(Arc<Stderr>, Arc<AtomicBool>)>);

impl Display {
    /// On stderr, live on a terminal (redrawn every second so its clocks move), plain
    /// otherwise; nothing with `--quiet`.
    pub fn start(out: Output) -> Display {
        use std::io::IsTerminal;
        if out.quiet {
            return Display(None);
        }
        let live = std::io::stderr().is_terminal();
        let mode = if live {
            // a pseudo-terminal without a size (e.g. under `script`) says 0 columns
            let width = crossterm::terminal::size()
                .ok()
                .map(|(w, _)| usize::from(w))
                .filter(|w| *w >= 20)
                .unwrap_or(80);
            Mode::Live { width }
        } else {
            Mode::Plain
        };
        let sink = Arc::new(Stderr(Mutex::new(Render::new(mode))));
        let done = Arc::new(AtomicBool::new(false));
        if live {
            let (sink, done) = (sink.clone(), done.clone());
            std::thread::spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                    if done.load(Ordering::SeqCst) {
                        return;
                    }
                    sink.write(|r| r.tick(Instant::now()));
                }
            });
        }
        Display(Some((sink, done)))
    }

    pub fn reporter(&self) -> Reporter {
        match &self.0 {
            Some((s, _)) => Reporter::new(s.clone()),
            None => Reporter::default(),
        }
    }

    pub fn finish(&self) {
        if let Some((s, done)) = &self.0 {
            // under the sink's lock: a tick cannot draw after the block is gone
            s.write(|r| {
                done.store(true, Ordering::SeqCst);
                r.finish()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(step: Step) -> Progress {
        Progress::Node {
            node: "h1/bn".into(),
            step,
        }
    }

    fn up(sent: u64) -> Progress {
        node(Step::Uploading {
            sent,
            total: 40_000_000,
        })
    }

    fn gate(secs: u64, said: &str) -> Progress {
        node(Step::Gate {
            elapsed: Duration::from_secs(secs),
            timeout: Duration::from_secs(120),
            said: said.into(),
        })
    }

    /// Feed `events` (each with its offset from the start in seconds) through plain mode.
    fn plain(events: &[(u64, Progress)]) -> Vec<String> {
        let t0 = Instant::now();
        let mut r = Render::new(Mode::Plain);
        events
            .iter()
            .map(|(s, p)| r.feed(p, t0 + Duration::from_secs(*s), "T"))
            .collect::<String>()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn plain_lines_one_per_change_uploads_by_quarters_or_ten_seconds() {
        let mut ev = vec![(0, node(Step::Locking)), (0, node(Step::Locked))];
        // every half second for 30 s: 0 .. 40 MB; only quarters and a line every 10 s print
        for i in 0..=60u64 {
            ev.push((i / 2, up(i * 40_000_000 / 60)));
        }
        ev.push((30, up(40_000_000)));
        ev.push((31, node(Step::Unpacking)));
        let lines = plain(&ev);
        assert_eq!(
            lines,
            vec![
                "T h1/bn: locking",
                "T h1/bn: locked",
                "T h1/bn: uploading 0.0 MB / 40.0 MB (0%)",
                "T h1/bn: uploading 10.0 MB / 40.0 MB (25%)",
                "T h1/bn: uploading 20.0 MB / 40.0 MB (50%)",
                "T h1/bn: uploading 30.0 MB / 40.0 MB (75%)",
                "T h1/bn: uploading 40.0 MB / 40.0 MB (100%)",
                "T h1/bn: verifying and unpacking on the host",
            ]
        );
        assert!(
            lines
                .iter()
                .all(|l| !l.contains('\r') && !l.contains('\x1b'))
        );
    }

    #[test]
    fn a_quiet_window_wait_prints_when_the_duty_changes_or_every_ten_seconds() {
        let quiet = |blocker: &str, s: u64| {
            node(Step::Quiet {
                blocker: blocker.into(),
                next_in: Duration::from_secs(30 - s),
                gives_up_in: Duration::from_secs(600 - s),
            })
        };
        // reported every second for 25 s; the blocking duty changes at 15 s
        let ev: Vec<(u64, Progress)> = (0..25u64)
            .map(|s| {
                let b = if s < 15 {
                    "attestation duty of validator 3 at slot 8"
                } else {
                    "proposal duty of validator 3 at slot 9"
                };
                (s, quiet(b, s))
            })
            .collect();
        assert_eq!(
            plain(&ev),
            vec![
                "T h1/bn: waiting for a quiet window: attestation duty of validator 3 at slot 8 in 30s; gives up in 10m00s",
                "T h1/bn: waiting for a quiet window: attestation duty of validator 3 at slot 8 in 20s; gives up in 9m50s",
                "T h1/bn: waiting for a quiet window: proposal duty of validator 3 at slot 9 in 15s; gives up in 9m45s",
            ]
        );
    }

    #[test]
    fn a_slow_upload_still_prints_every_ten_seconds() {
        let ev: Vec<(u64, Progress)> = (0..=25u64).map(|s| (s, up(s * 100_000))).collect();
        let lines = plain(&ev);
        assert_eq!(
            lines,
            vec![
                "T h1/bn: uploading 0.0 MB / 40.0 MB (0%)",
                "T h1/bn: uploading 1.0 MB / 40.0 MB (2%)",
                "T h1/bn: uploading 2.0 MB / 40.0 MB (5%)",
            ]
        );
    }

    #[test]
    fn gate_waits_print_when_the_probe_says_something_new_or_every_ten_seconds() {
        let mut ev = vec![(0, node(Step::Switched))];
        for s in (2..=30).step_by(2) {
            let said = if s < 8 {
                "Beacon API is not answering (connection refused)"
            } else {
                "the head has not advanced yet\x1b[31m"
            };
            ev.push((s, gate(s, said)));
        }
        ev.push((31, node(Step::GatePassed)));
        ev.push((
            32,
            Progress::Finished {
                node: "h1/bn".into(),
                result: "ok".into(),
                failed: false,
                detail: "healthy and confirmed".into(),
            },
        ));
        assert_eq!(
            plain(&ev),
            vec![
                "T h1/bn: switched, health gate next",
                "T h1/bn: gate waiting 2s/120s: Beacon API is not answering (connection refused)",
                "T h1/bn: gate waiting 8s/120s: the head has not advanced yet",
                "T h1/bn: gate waiting 18s/120s: the head has not advanced yet",
                "T h1/bn: gate waiting 28s/120s: the head has not advanced yet",
                "T h1/bn: gate passed",
                "T h1/bn: finished: ok",
            ]
        );
    }

    #[test]
    fn batches_and_failures_are_named() {
        let lines = plain(&[
            (
                0,
                Progress::Batch {
                    index: 1,
                    of: 2,
                    canary: true,
                    nodes: vec!["h1/bn".into()],
                },
            ),
            (
                9,
                Progress::Finished {
                    node: "h1/bn".into(),
                    result: "rolled-back".into(),
                    failed: true,
                    detail: "1.5.1 failed the health gate".into(),
                },
            ),
        ]);
        assert_eq!(
            lines,
            vec![
                "T batch 1/2 (canary): h1/bn",
                "T h1/bn: finished: rolled-back: 1.5.1 failed the health gate",
            ]
        );
    }

    #[test]
    fn live_mode_redraws_one_line_per_running_node_in_place() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut r = Render::new(Mode::Live { width: 60 });
        let other = Progress::Node {
            node: "h2/bn".into(),
            step: Step::Locking,
        };
        assert_eq!(
            r.feed(&node(Step::Locking), at(0), ""),
            "h1/bn [0s] locking\n"
        );
        assert_eq!(
            r.feed(&other, at(1), ""),
            "\r\x1b[1A\x1b[Jh1/bn [1s] locking\nh2/bn [0s] locking\n"
        );
        // h1's line changes in place: up two lines, clear, both lines again
        let s = r.feed(&up(20_000_000), at(3), "");
        assert_eq!(
            s,
            "\r\x1b[2A\x1b[Jh1/bn [3s] uploading 20.0 MB / 40.0 MB (50%)\nh2/bn [2s] locking\n"
        );
        // a finished node leaves a line that stays, above the block
        let done = Progress::Finished {
            node: "h1/bn".into(),
            result: "ok".into(),
            failed: false,
            detail: String::new(),
        };
        assert_eq!(
            r.feed(&done, at(40), ""),
            "\r\x1b[2A\x1b[Jh1/bn: finished: ok after 40s\nh2/bn [39s] locking\n"
        );
        // lines are clipped to the terminal's width (no wrap breaks the redraw)
        let long = r.feed(&gate(5, &"x".repeat(200)), at(41), "");
        let body = long.strip_prefix("\r\x1b[1A\x1b[J").unwrap_or_default();
        assert_eq!(body.lines().count(), 2, "{long:?}");
        assert!(
            body.lines()
                .all(|l| l.chars().count() == 59 || l.starts_with("h2/bn")),
            "{long:?}"
        );
        assert!(body.contains('…'), "{long:?}");
        assert_eq!(r.finish(), "\r\x1b[2A\x1b[J");
        assert_eq!(r.finish(), "");
        assert_eq!(r.tick(at(50)), "", "nothing running, nothing drawn");
    }

    #[test]
    fn a_tick_moves_the_clocks_of_a_long_step() {
        let t0 = Instant::now();
        let mut r = Render::new(Mode::Live { width: 80 });
        let _ = r.feed(&node(Step::Unpacking), t0, "");
        assert_eq!(
            r.tick(t0 + Duration::from_secs(31)),
            "\r\x1b[1A\x1b[Jh1/bn [31s] verifying and unpacking on the host\n"
        );
        let mut p = Render::new(Mode::Plain);
        let _ = p.feed(&node(Step::Unpacking), t0, "T");
        assert_eq!(p.tick(t0 + Duration::from_secs(31)), "");
    }

    #[test]
    fn quiet_means_no_sink() {
        let d = Display::start(Output {
            json: true,
            color: false,
            quiet: true,
        });
        assert_eq!(format!("{:?}", d.reporter()), "Reporter(none)");
    }
}
