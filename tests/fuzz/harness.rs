//! The fuzz harness: a seeded generator of hostile inputs (mutations of real fixture files, long lines,
//! unicode, truncations, random bytes), a runner that calls a target on each input in a worker thread with
//! a time bound, and the regression store: every input that ever failed is written under
//! `tests/fixtures/fuzz/<target>/` (shrunk first) and replayed by a plain test.
//!
//! Knobs (environment): `NODEHERD_FUZZ_CASES` (cases per target; default each target's CI count),
//! `NODEHERD_FUZZ_SEED` (default a fixed seed, so CI runs are repeatable), `NODEHERD_FUZZ_CASE_SECS`
//! (the time bound of one call; default 10 s: a debug build on a loaded CI machine).

use super::tree::{self, Shape};
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

/// One thing to fuzz: a name (its fixture folder), the real files its inputs start from, words of its
/// syntax, how many cases CI runs, the biggest input, and the call that must neither panic nor hang
/// (it may assert round trips itself: a failed assertion is a finding like any panic).
pub struct Target {
    pub name: &'static str,
    /// Paths relative to the repository root; a folder means every file in it.
    pub corpus: &'static [&'static str],
    pub dict: &'static [&'static str],
    pub cases: u32,
    pub max_len: usize,
    /// Inputs built in code from real files (when the real files are not in the parser's own format).
    pub seeds: Option<fn() -> Vec<Vec<u8>>>,
    /// The syntax of the corpus, for structure-aware mutation (half the mutated cases).
    pub shape: Shape,
    pub run: fn(&[u8]),
}

/// The repository root (the root package's manifest dir).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where a target's regression inputs live.
pub fn fixture_dir(target: &str) -> PathBuf {
    root().join("tests/fixtures/fuzz").join(target)
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

pub fn case_limit() -> Duration {
    Duration::from_secs(env_u64("NODEHERD_FUZZ_CASE_SECS").unwrap_or(10))
}

/// SplitMix64: tiny, seedable, the same sequence on every platform and toolchain.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
    pub fn pick_ref<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Characters that break naive byte-index and width arithmetic: multi-byte, combining, zero-width,
/// direction overrides, case mappings that change length, controls, escapes, the largest scalar.
const UNICODE: &[&str] = &[
    "é",
    "e\u{301}",
    "\u{200b}",
    "\u{202e}",
    "\u{feff}",
    "𝔘",
    "🦀",
    "İ",
    "ß",
    "ﬀ",
    "Ⱥ",
    "\u{10ffff}",
    "\0",
    "\x1b[31m",
    "\r",
    "\t",
    "\u{7f}",
    "\u{85}",
    "\u{2028}",
    "日本語",
    "\u{fffd}",
];

/// Numbers that overflow, underflow or are not finite.
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "18446744073709551616",
    "99999999999999999999999999",
    "-9223372036854775809",
    "1e400",
    "-0",
    "NaN",
    "+Inf",
    "0x",
    "0.000000000000000000001",
    "4294967296",
    "65536",
];

/// Makes inputs for one target from its corpus and dictionary.
pub struct Gen<'a> {
    pub rng: Rng,
    pub shape: Shape,
    corpus: &'a [Vec<u8>],
    dict: &'a [&'static str],
    max_len: usize,
}

impl<'a> Gen<'a> {
    pub fn new(seed: u64, corpus: &'a [Vec<u8>], dict: &'a [&'static str], max_len: usize) -> Self {
        Gen {
            rng: Rng::new(seed),
            shape: Shape::Bytes,
            corpus,
            dict,
            max_len,
        }
    }

    fn token(&mut self) -> &'static str {
        match self.rng.below(4) {
            0 => self.rng.pick(UNICODE),
            1 => self.rng.pick(NUMBERS),
            _ if !self.dict.is_empty() => self.rng.pick(self.dict),
            _ => self.rng.pick(UNICODE),
        }
    }

    /// One input: mostly a real file mutated a few times; sometimes a soup of the syntax's words,
    /// random bytes, random unicode, or a real file carrying a very long line.
    pub fn input(&mut self) -> Vec<u8> {
        // Without real files, the syntax's words make most inputs (not long runs of one word).
        let roll = match self.rng.below(20) {
            r @ 0..=12 if self.corpus.is_empty() => 13 + r % 2,
            r => r,
        };
        let mut out = match roll {
            0..=5 if self.shape != Shape::Bytes && !self.corpus.is_empty() => {
                let file = self.rng.pick_ref(self.corpus);
                match tree::mutant(&mut self.rng, self.shape, file) {
                    Some(v) => v,
                    None => {
                        let mut v = file.clone();
                        self.mutate(&mut v);
                        v
                    }
                }
            }
            0..=12 if !self.corpus.is_empty() => {
                let mut v = self.rng.pick_ref(self.corpus).clone();
                for _ in 0..=self.rng.below(6) {
                    self.mutate(&mut v);
                }
                v
            }
            13 | 14 => {
                let mut s = String::new();
                for _ in 0..=self.rng.below(80) {
                    s.push_str(self.token());
                    s.push_str(
                        self.rng
                            .pick(&[" ", "\n", "=", ",", ":", "\"", "", "[", "]", "{", "}"]),
                    );
                }
                s.into_bytes()
            }
            15 => (0..self.rng.below(512))
                .map(|_| self.rng.next() as u8)
                .collect(),
            16 => (0..self.rng.below(256))
                .map(|_| self.rng.pick(UNICODE).to_string())
                .collect::<String>()
                .into_bytes(),
            _ => {
                let mut v = if self.corpus.is_empty() {
                    Vec::new()
                } else {
                    self.rng.pick_ref(self.corpus).clone()
                };
                self.long_run(&mut v);
                v
            }
        };
        out.truncate(self.max_len);
        out
    }

    fn at(&mut self, v: &[u8]) -> usize {
        self.rng.below(v.len() + 1)
    }

    fn long_run(&mut self, v: &mut Vec<u8>) {
        let unit = match self.rng.below(3) {
            0 => self.token().to_string(),
            1 => "a".to_string(),
            _ => (self.rng.below(95) as u8 + 32).to_string(),
        };
        let n = 1000 + self.rng.below(self.max_len.max(2000) / unit.len().max(1));
        let run = unit.repeat(n.min(self.max_len / unit.len().max(1) + 1));
        let i = self.at(v);
        v.splice(i..i, run.into_bytes());
    }

    fn line_starts(v: &[u8]) -> Vec<usize> {
        std::iter::once(0)
            .chain(memchr_all(v).into_iter().map(|i| i + 1))
            .collect()
    }

    /// One mutation in place.
    pub fn mutate(&mut self, v: &mut Vec<u8>) {
        match self.rng.below(14) {
            0 if !v.is_empty() => {
                let i = self.rng.below(v.len());
                v[i] ^= 1 << self.rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = self.rng.below(v.len());
                v[i] = self.rng.next() as u8;
            }
            2 => {
                let i = self.at(v);
                let n = 1 + self.rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| self.rng.next() as u8).collect();
                v.splice(i..i, bytes);
            }
            3 if !v.is_empty() => {
                let i = self.rng.below(v.len());
                let n = 1 + self.rng.below((v.len() - i).min(64));
                v.drain(i..i + n);
            }
            4 => {
                let i = self.at(v);
                v.truncate(i);
            }
            5 if !v.is_empty() => {
                let i = self.rng.below(v.len());
                let n = 1 + self.rng.below((v.len() - i).min(256));
                let chunk = v[i..i + n].to_vec();
                let j = self.at(v);
                v.splice(j..j, chunk);
            }
            6..=8 => {
                let t = self.token().as_bytes().to_vec();
                let i = self.at(v);
                v.splice(i..i, t);
            }
            9 => self.long_run(v),
            10 if !self.corpus.is_empty() => {
                let other = self.rng.pick_ref(self.corpus);
                let i = self.at(v);
                let j = self.rng.below(other.len() + 1);
                v.truncate(i);
                v.extend_from_slice(&other[j..]);
            }
            11 => {
                // Replace a run of digits with a hostile number.
                if let Some(start) = (0..v.len())
                    .map(|k| (k + self.at(v)) % v.len().max(1))
                    .find(|&k| v.get(k).is_some_and(u8::is_ascii_digit))
                {
                    let end = v[start..]
                        .iter()
                        .position(|b| !b.is_ascii_digit())
                        .map_or(v.len(), |n| start + n);
                    let n = self.rng.pick(NUMBERS).as_bytes().to_vec();
                    v.splice(start..end, n);
                }
            }
            12 => {
                // Duplicate or drop a whole line.
                let starts = Self::line_starts(v);
                let s = self.rng.pick(&starts);
                let e = v[s..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(v.len(), |n| s + n + 1);
                if self.rng.chance(50) {
                    let line = v[s..e].to_vec();
                    let t = self.rng.pick(&starts);
                    v.splice(t..t, line);
                } else {
                    v.drain(s..e);
                }
            }
            _ => {
                let t = self.rng.pick(UNICODE).as_bytes().to_vec();
                let i = self.at(v);
                v.splice(i..i, t);
            }
        }
    }
}

fn memchr_all(v: &[u8]) -> Vec<usize> {
    v.iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i)
        .collect()
}

/// Text for string parsers: invalid UTF-8 becomes U+FFFD (a parser is handed `&str` by its caller).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What one call did wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Panic(String),
    Hang,
    Slow(Duration),
}

impl Failure {
    fn kind(&self) -> &'static str {
        match self {
            Failure::Panic(_) => "panic",
            Failure::Hang => "hang",
            Failure::Slow(_) => "slow",
        }
    }
}

type Job = (Vec<u8>, Sender<Result<Duration, String>>);

/// A thread that runs the target; replaced when a call hangs (the stuck one is left behind).
struct Worker {
    tx: Sender<Job>,
}

impl Worker {
    fn new(run: fn(&[u8])) -> Worker {
        let (tx, rx): (Sender<Job>, Receiver<Job>) = mpsc::channel();
        thread::Builder::new()
            .name("fuzz-worker".into())
            .stack_size(64 << 20)
            .spawn(move || {
                while let Ok((input, back)) = rx.recv() {
                    let start = Instant::now();
                    let r = catch_unwind(AssertUnwindSafe(|| run(&input)));
                    let _ = back.send(r.map(|()| start.elapsed()).map_err(message));
                }
            })
            .expect("spawn fuzz worker");
        Worker { tx }
    }
}

fn message(p: Box<dyn Any + Send>) -> String {
    let msg = p
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "non-string panic".into());
    let place = LAST_PLACE.with(|l| l.borrow().clone());
    format!("{msg} (at {place})")
}

thread_local! {
    static LAST_PLACE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Panics on fuzz workers are findings: record where, print nothing (the report says it);
/// every other thread keeps the default hook.
fn quiet_workers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if thread::current().name() == Some("fuzz-worker") {
                let place = info
                    .location()
                    .map_or_else(String::new, |l| format!("{}:{}", l.file(), l.line()));
                LAST_PLACE.with(|p| *p.borrow_mut() = place);
            } else {
                default(info);
            }
        }));
    });
}

/// Runs targets' calls with a time bound.
pub struct Runner {
    run: fn(&[u8]),
    worker: Worker,
    limit: Duration,
}

impl Runner {
    pub fn new(run: fn(&[u8])) -> Runner {
        Runner::with_limit(run, case_limit())
    }

    pub fn with_limit(run: fn(&[u8]), limit: Duration) -> Runner {
        quiet_workers();
        Runner {
            run,
            worker: Worker::new(run),
            limit,
        }
    }

    /// One call: Ok, or what went wrong.
    pub fn call(&mut self, input: &[u8]) -> Result<Duration, Failure> {
        let (back, answer) = mpsc::channel();
        if self.worker.tx.send((input.to_vec(), back)).is_err() {
            self.worker = Worker::new(self.run);
            return self.call(input);
        }
        match answer.recv_timeout(self.limit) {
            Ok(Ok(took)) if took > self.limit => Err(Failure::Slow(took)),
            Ok(Ok(took)) => Ok(took),
            Ok(Err(msg)) => Err(Failure::Panic(msg)),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                self.worker = Worker::new(self.run);
                Err(Failure::Hang)
            }
        }
    }

    /// Shrinks a panicking input (drop chunks, halving their size) while it still panics at the same place.
    pub fn shrink(&mut self, input: &[u8], failure: &Failure) -> Vec<u8> {
        let Failure::Panic(first) = failure else {
            return input.to_vec();
        };
        let mut best = input.to_vec();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut chunk = best.len() / 2;
        while chunk > 0 && Instant::now() < deadline {
            let mut i = 0;
            while i < best.len() && Instant::now() < deadline {
                let mut candidate = best.clone();
                candidate.drain(i..(i + chunk).min(best.len()));
                match self.call(&candidate) {
                    Err(Failure::Panic(m)) if same_place(&m, first) => best = candidate,
                    _ => i += chunk,
                }
            }
            chunk /= 2;
        }
        best
    }
}

fn same_failure(a: &Failure, b: &Failure) -> bool {
    match (a, b) {
        (Failure::Panic(x), Failure::Panic(y)) => same_place(x, y),
        _ => a.kind() == b.kind(),
    }
}

fn same_place(a: &str, b: &str) -> bool {
    a.rsplit_once(" (at ").map(|x| x.1) == b.rsplit_once(" (at ").map(|x| x.1)
}

/// FNV-1a, for stable fixture names.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Keeps a failing input as a regression fixture; returns its path.
pub fn keep(target: &str, input: &[u8], failure: &Failure) -> PathBuf {
    let dir = fixture_dir(target);
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{}-{:016x}", failure.kind(), fnv(input)));
    let _ = std::fs::write(&path, input);
    path
}

/// Reads a target's corpus (its real files, then its kept regression inputs).
pub fn corpus(t: &Target) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for rel in t.corpus {
        collect(&root().join(rel), &mut paths);
    }
    collect(&fixture_dir(t.name), &mut paths);
    let mut out: Vec<Vec<u8>> = paths.iter().filter_map(|p| std::fs::read(p).ok()).collect();
    out.extend(t.seeds.map(|f| f()).unwrap_or_default());
    assert!(
        t.corpus.is_empty() || !out.is_empty(),
        "{}: no corpus file could be read from {:?}",
        t.name,
        t.corpus
    );
    out
}

fn collect(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        for e in entries {
            collect(&e, out);
        }
    } else if p.is_file() {
        out.push(p.to_path_buf());
    }
}

/// What a fuzz run did, for its closing line and the docs.
#[derive(Debug)]
pub struct Summary {
    pub cases: u32,
    pub bytes: usize,
    pub slowest: Duration,
    pub wall: Duration,
    pub failures: Vec<(PathBuf, Failure)>,
}

/// Fuzzes one target: `NODEHERD_FUZZ_CASES` (or the target's CI count) generated inputs, every
/// failure shrunk and kept; panics at the end naming every kept file.
pub fn fuzz(t: &Target) {
    let cases = env_u64("NODEHERD_FUZZ_CASES").map_or(t.cases, |n| n as u32);
    let seed =
        env_u64("NODEHERD_FUZZ_SEED").unwrap_or(0x6e6f_6465_6865_7264) ^ fnv(t.name.as_bytes());
    let corpus = corpus(t);
    let mut g = Gen::new(seed, &corpus, t.dict, t.max_len);
    g.shape = t.shape;
    let mut runner = Runner::new(t.run);
    let start = Instant::now();
    let mut s = Summary {
        cases,
        bytes: 0,
        slowest: Duration::ZERO,
        wall: Duration::ZERO,
        failures: Vec::new(),
    };
    // The real files themselves first: they must pass untouched.
    let inputs = corpus
        .iter()
        .cloned()
        .map(Some)
        .chain((0..cases).map(|_| None));
    let mut slowest_input = Vec::new();
    for fixed in inputs {
        let input = fixed.unwrap_or_else(|| g.input());
        s.bytes += input.len();
        match runner.call(&input) {
            Ok(took) if took > s.slowest => {
                s.slowest = took;
                slowest_input.clone_from(&input);
            }
            Ok(_) => {}
            // One kept input per failing place: the same bug found again is not news.
            Err(f) if s.failures.iter().any(|(_, seen)| same_failure(seen, &f)) => {}
            Err(f) => {
                let small = runner.shrink(&input, &f);
                let path = keep(t.name, &small, &f);
                s.failures.push((path, f));
                if s.failures.len() >= 5 {
                    break;
                }
            }
        }
    }
    if let Some(dir) = std::env::var_os("NODEHERD_FUZZ_SLOWEST") {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(Path::new(&dir).join(t.name), &slowest_input);
    }
    s.wall = start.elapsed();
    println!(
        "fuzz {}: {} cases ({} corpus files), {} KiB, slowest call {:?}, {:?} wall, {} failures",
        t.name,
        s.cases,
        corpus.len(),
        s.bytes / 1024,
        s.slowest,
        s.wall,
        s.failures.len()
    );
    let report: Vec<String> = s
        .failures
        .iter()
        .map(|(p, f)| format!("{}: {f:?}", p.display()))
        .collect();
    assert!(
        report.is_empty(),
        "fuzz {}: {} failing inputs kept:\n{}",
        t.name,
        report.len(),
        report.join("\n")
    );
}

/// Replays every kept input of one target; returns how many.
pub fn replay(t: &Target) -> usize {
    let mut runner = Runner::new(t.run);
    let mut files = Vec::new();
    collect(&fixture_dir(t.name), &mut files);
    let mut bad = Vec::new();
    for f in &files {
        let input = std::fs::read(f).expect("read a kept input");
        if let Err(failure) = runner.call(&input) {
            bad.push(format!("{}: {failure:?}", f.display()));
        }
    }
    assert!(
        bad.is_empty(),
        "kept inputs of {} fail again:\n{}",
        t.name,
        bad.join("\n")
    );
    println!("replay {}: {} kept inputs, 0 failures", t.name, files.len());
    files.len()
}

/// Folders under tests/fixtures/fuzz that no target owns (besides `seeds`, the corpus files made here).
pub fn orphans(targets: &[&Target]) -> Vec<String> {
    std::fs::read_dir(root().join("tests/fixtures/fuzz"))
        .map(|d| d.filter_map(Result::ok).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "seeds" && !targets.iter().any(|t| t.name == n))
        .collect()
}
