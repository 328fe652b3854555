//! The matrix as data: operations, the steps a fault is injected at (by the progress line the
//! console prints), the faults, the full cross product and the representative set CI runs.
//! Owns: which cases exist, their names, which ones wait for the guard's fixes. May not touch:
//! the lab, the console.

use std::fmt;

/// What the console is asked to do (the app starts on `from`, the command aims at `to`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    /// `upgrade NODE --to 1.1.0` from 1.0.0.
    Upgrade,
    /// `rollback NODE` from 1.1.0 to `previous` 1.0.0 (no upload).
    Rollback,
    /// `apply -p PB` declaring 1.1.0, from 1.0.0.
    Apply,
    /// `keys move KEY --from lodestar-vc --to lodestar-vc2` (real Lodestar, host 1).
    KeyMove,
    /// The same with `--quiet-epochs 1`, for interop key 7 (on chain): the wait asks the chain.
    KeyQuiet,
    /// `failover lodestar-vc --to lodestar-vc2 --keystore KS --quiet-epochs 1` (interop key 7).
    Failover,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Upgrade => "upgrade",
            Op::Rollback => "rollback",
            Op::Apply => "apply",
            Op::KeyMove => "keymove",
            Op::KeyQuiet => "quietmove",
            Op::Failover => "quietfailover",
        }
    }

    /// Runs on host 1's validator clients (one case at a time).
    pub fn on_validators(self) -> bool {
        matches!(self, Op::KeyMove | Op::KeyQuiet | Op::Failover)
    }
}

/// Where the fault lands: the first progress line of that step (empty: before the run).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Step {
    Before,
    Upload,
    Unpack,
    Switch,
    Gate,
    Confirm,
    /// This many milliseconds after the console started (a move without its wait is too quick
    /// to aim at its lines).
    After(u64),
    /// A quiet move's removal is done and saved ("removed from ...: slashing data saved").
    Removed,
    /// A failover's fence of the source begins ("fencing ...").
    Fence,
    /// The quiet wait's first line ("quiet wait: epoch ...").
    Wait,
    /// The import into the target is about to be sent ("importing ... into ...").
    Import,
}

impl Step {
    /// The text of the console's progress line that starts this step.
    pub fn line(self) -> Option<&'static str> {
        match self {
            Step::Before | Step::After(_) => None,
            Step::Upload => Some(": uploading "),
            Step::Unpack => Some(": verifying and unpacking on the host"),
            Step::Switch => Some(": switching"),
            Step::Gate => Some(": gate waiting "),
            Step::Confirm => Some(": gate passed"),
            Step::Removed => Some(" removed from "),
            Step::Fence => Some(" fencing "),
            Step::Wait => Some(" quiet wait: epoch "),
            Step::Import => Some(" importing "),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fault {
    /// SIGKILL to the console.
    Kill,
    /// SIGSTOP to the console for this many seconds, then SIGCONT.
    Freeze(u64),
    /// The host's link dropped on the console side (`ip link set <veth> down`) for this long.
    Cut(u64),
    /// Every sshd process of the host SIGKILLed (sshd restarts by `Restart=on-failure`).
    Sshd,
    /// A 256 KiB tmpfs over `releases/` (the release to unpack does not fit).
    DiskFull,
    /// The target release fails its self-check (the probe answers 503).
    Broken,
    /// The target release exits at once (a crash loop).
    Crash,
    /// A second console runs the same command when the step starts.
    Second,
    /// The host's clock two hours ahead (libfaketime preloaded on the host).
    Skew,
    /// The host power-cut and booted again (`nodeherd_lab::host::reboot`, off for 1 s).
    Reboot,
    /// [`Fault::Reboot`] during the switch to a broken release (1.2.0): issue #15 item 9.
    RebootBroken,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Case {
    pub op: Op,
    pub step: Step,
    pub fault: Fault,
    /// Rerun the command at once, without waiting for the host's guard (issue #15 item 10b).
    pub rerun_at_once: bool,
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = self.op.name();
        let step = match self.step {
            Step::After(ms) => format!("t{ms}ms"),
            other => format!("{other:?}").to_lowercase(),
        };
        let fault = match self.fault {
            Fault::Freeze(s) => format!("freeze{s}s"),
            Fault::Cut(s) => format!("cut{s}s"),
            other => format!("{other:?}").to_lowercase(),
        };
        let again = if self.rerun_at_once {
            "_rerun_at_once"
        } else {
            ""
        };
        write!(f, "{op}_{step}_{fault}{again}")
    }
}

impl Case {
    const fn new(op: Op, step: Step, fault: Fault) -> Case {
        Case {
            op,
            step,
            fault,
            rerun_at_once: false,
        }
    }

    /// `(version before, version asked for)`.
    pub fn versions(&self) -> (&'static str, &'static str) {
        match (self.op, self.fault) {
            (Op::Rollback, _) => ("1.1.0", "1.0.0"),
            (_, Fault::Broken | Fault::RebootBroken) => ("1.0.0", "1.2.0"),
            (_, Fault::Crash) => ("1.0.0", "1.4.0"),
            (_, Fault::DiskFull) => ("1.0.0", "1.3.0"),
            _ => ("1.0.0", "1.1.0"),
        }
    }

    /// The target cannot become healthy: the only good ending is the old version, reported.
    pub fn target_is_bad(&self) -> bool {
        matches!(
            self.fault,
            Fault::Broken | Fault::Crash | Fault::RebootBroken
        )
    }

    /// The issue #15 item this case reproduces that the guard helper is fixing (the case may
    /// fail until those fixes are merged).
    pub fn pending(&self) -> Option<&'static str> {
        match (self.step, self.fault) {
            (_, Fault::Reboot | Fault::RebootBroken) => {
                Some("item 9 (switch state survives a reboot)")
            }
            (_, Fault::Kill) if self.rerun_at_once => {
                Some("item 10b (unconfirmed switch taken as done)")
            }
            (Step::Gate, Fault::Second) => Some("item 10b (second console during the gate)"),
            (Step::Confirm, Fault::Cut(s)) if s >= 30 => Some("item 10c (lost link at confirm)"),
            (_, Fault::Freeze(s)) if s >= 30 => Some("item 10d (frozen console past its lease)"),
            _ => None,
        }
    }
}

/// The key-move cases: a fault at a time after the move started.
fn key_moves(all: bool) -> Vec<Case> {
    let faults = [
        Fault::Kill,
        Fault::Freeze(5),
        Fault::Cut(8),
        Fault::Sshd,
        Fault::Second,
    ];
    let mut out = Vec::new();
    // a move takes ~9 s on the lab (remove with slashing export, verify, import)
    for ms in [500, 2500, 6000] {
        for fault in faults {
            if all || matches!((ms, fault), (500 | 6000, Fault::Kill) | (2500, _)) {
                out.push(Case::new(Op::KeyMove, Step::After(ms), fault));
            }
        }
    }
    out
}

/// The quiet cases (issue #14): the console killed at each step of a move and of a failover
/// that wait for one quiet epoch. Each waits on the dev chain's epochs (48 s), one after the
/// other on host 1: about 15 min together, so they run in `NODEHERD_FAULTS=all` only.
pub fn quiet() -> Vec<Case> {
    let mut out = Vec::new();
    for step in [Step::Removed, Step::Wait, Step::Import] {
        out.push(Case::new(Op::KeyQuiet, step, Fault::Kill));
    }
    for step in [Step::Fence, Step::Wait, Step::Import] {
        out.push(Case::new(Op::Failover, step, Fault::Kill));
    }
    out
}

/// Every meaningful combination (`NODEHERD_FAULTS=all`).
pub fn all() -> Vec<Case> {
    let mut out = key_moves(true);
    out.extend(quiet());
    for op in [Op::Upgrade, Op::Rollback, Op::Apply] {
        let steps: &[Step] = if op == Op::Rollback {
            &[Step::Switch, Step::Gate, Step::Confirm]
        } else {
            &[
                Step::Upload,
                Step::Unpack,
                Step::Switch,
                Step::Gate,
                Step::Confirm,
            ]
        };
        for &step in steps {
            for fault in [
                Fault::Kill,
                Fault::Freeze(5),
                Fault::Freeze(40),
                Fault::Cut(8),
                Fault::Cut(40),
                Fault::Sshd,
                Fault::Second,
            ] {
                out.push(Case::new(op, step, fault));
            }
            out.push(Case::new(op, step, Fault::Reboot));
        }
        out.push(Case {
            rerun_at_once: true,
            ..Case::new(op, Step::Switch, Fault::Kill)
        });
        out.push(Case::new(op, Step::Before, Fault::Skew));
        if op != Op::Rollback {
            out.push(Case::new(op, Step::Unpack, Fault::DiskFull));
            out.push(Case::new(op, Step::Before, Fault::Broken));
            out.push(Case::new(op, Step::Before, Fault::Crash));
            out.push(Case::new(op, Step::Gate, Fault::Broken));
            out.push(Case::new(op, Step::Gate, Fault::Crash));
            out.push(Case::new(op, Step::Switch, Fault::RebootBroken));
            out.push(Case::new(op, Step::Gate, Fault::RebootBroken));
        }
    }
    out
}

/// The representative set CI runs (every fault, every step, every operation at least once).
pub fn ci() -> Vec<Case> {
    use Fault::{Broken, Crash, Cut, DiskFull, Freeze, Kill, Second, Skew, Sshd};
    use Op::{Apply, Rollback, Upgrade};
    use Step::{Before, Confirm, Gate, Switch, Unpack, Upload};
    let mut out = key_moves(false);
    out.extend([
        Case::new(Upgrade, Upload, Kill),
        Case::new(Upgrade, Unpack, Kill),
        Case::new(Upgrade, Switch, Kill),
        Case::new(Upgrade, Gate, Kill),
        Case::new(Upgrade, Confirm, Kill),
        Case::new(Upgrade, Upload, Freeze(5)),
        Case::new(Upgrade, Gate, Freeze(40)),
        Case::new(Upgrade, Upload, Cut(8)),
        Case::new(Upgrade, Switch, Cut(8)),
        Case::new(Upgrade, Gate, Cut(40)),
        Case::new(Upgrade, Confirm, Cut(40)),
        Case::new(Upgrade, Upload, Sshd),
        Case::new(Upgrade, Switch, Sshd),
        Case::new(Upgrade, Gate, Sshd),
        Case::new(Upgrade, Unpack, DiskFull),
        Case::new(Upgrade, Before, Broken),
        Case::new(Upgrade, Before, Crash),
        Case::new(Upgrade, Gate, Broken),
        Case::new(Upgrade, Upload, Second),
        Case::new(Upgrade, Gate, Second),
        Case::new(Upgrade, Before, Skew),
        Case::new(Rollback, Switch, Kill),
        Case::new(Rollback, Gate, Kill),
        Case::new(Rollback, Gate, Cut(8)),
        Case::new(Rollback, Gate, Sshd),
        Case::new(Rollback, Gate, Freeze(5)),
        Case::new(Rollback, Switch, Second),
        Case::new(Apply, Upload, Kill),
        Case {
            rerun_at_once: true,
            ..Case::new(Apply, Switch, Kill)
        },
        Case::new(Apply, Gate, Cut(8)),
        Case::new(Apply, Unpack, Sshd),
        Case::new(Apply, Unpack, DiskFull),
        Case::new(Apply, Before, Broken),
        Case::new(Apply, Switch, Second),
    ]);
    out.extend([
        Case::new(Upgrade, Gate, Fault::Reboot),
        Case::new(Upgrade, Gate, Fault::RebootBroken),
        Case::new(Apply, Switch, Fault::Reboot),
    ]);
    out
}
