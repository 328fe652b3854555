//! One lab host as a case sees it: commands over OpenSSH (time-limited, so a cut link cannot
//! hang the suite), the app's baseline, the faults that act on the host (link, sshd, tmpfs,
//! clock) and what the checks read back (versions, the app's answer, switch units, the lock,
//! leftovers). Owns: everything done to a host. May not touch: the console process.

use crate::app;
use nodeherd_lab::{LabConfig, host, naming};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where libfaketime is on the machine (Debian's `libfaketime`), copied onto a skewed host.
const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

#[derive(Clone)]
pub struct Host {
    pub cfg: LabConfig,
    pub i: usize,
}

/// What a host looks like after a case.
#[derive(Debug, Default)]
pub struct Seen {
    pub current: String,
    pub previous: String,
    /// The app's `/health` answer: `200 {"version":...,"health":"ok"}`.
    pub answer: String,
    pub switch_units: String,
    pub lock_free: bool,
    pub leftovers: String,
}

impl Seen {
    /// The version the node runs healthy, if it does: `current` and the answer agree.
    pub fn healthy_on(&self) -> Option<String> {
        let v = self.current.strip_prefix("releases/")?;
        let want = format!("200 {{\"version\":\"{v}\",\"health\":\"ok\"}}");
        (self.answer.trim() == want).then(|| v.to_string())
    }
}

impl Host {
    pub fn name(&self) -> String {
        naming::host_name(&self.cfg.name, self.i)
    }

    /// Run `script` as root (`sh -c` by sshd), at most `limit`; (exit 0, stdout + stderr).
    pub fn sh_limit(&self, script: &str, limit: Duration, stdin: Option<&Path>) -> (bool, String) {
        let mut c = Command::new("timeout");
        c.arg("-s")
            .arg("KILL")
            .arg(format!("{}", limit.as_secs().max(1)))
            .arg("ssh")
            .args(["-o", "ServerAliveInterval=2", "-o", "ServerAliveCountMax=3"])
            .args(host::ssh_args(
                &naming::client_key(&self.cfg.state_dir),
                &naming::known_hosts_path(&self.cfg),
                "root",
                &naming::host_address(self.cfg.subnet, self.i),
            ))
            .arg(script)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match stdin {
            Some(p) => c.stdin(std::fs::File::open(p).expect("stdin file")),
            None => c.stdin(Stdio::null()),
        };
        let o = c.output().expect("run ssh");
        let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&o.stderr));
        (o.status.success(), text)
    }

    pub fn sh(&self, script: &str) -> (bool, String) {
        self.sh_limit(script, Duration::from_secs(30), None)
    }

    /// `sh` that must succeed.
    pub fn must(&self, script: &str) -> String {
        let (ok, out) = self.sh(script);
        assert!(ok, "{}: `{script}` failed: {out}", self.name());
        out
    }

    /// Wait until the host answers over SSH again (after a cut, a killed sshd, a reboot).
    pub fn reachable(&self, limit: Duration) {
        let t = Instant::now();
        loop {
            let (ok, out) = self.sh_limit("true", Duration::from_secs(8), None);
            if ok {
                return;
            }
            assert!(
                t.elapsed() < limit,
                "{} unreachable for {limit:?}: {out}",
                self.name()
            );
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// The machine-side end of the host's link up or down (a silent partition: no RST, no FIN).
    pub fn link(&self, up: bool) {
        let dev = naming::veth_name(&self.cfg.name, self.i);
        let st = Command::new("ip")
            .args(["link", "set", &dev, if up { "up" } else { "down" }])
            .status()
            .expect("ip");
        assert!(st.success(), "ip link set {dev}");
    }

    /// SIGKILL every sshd of the host (the listener and every session, the console's too),
    /// from a transient unit so it does not die with the session that asks for it.
    pub fn kill_sshd(&self) {
        self.must(
            "systemd-run --quiet --collect --no-block sh -c 'sleep 0.2; pkill -KILL -x sshd'",
        );
    }

    /// The install dir and units back to a known state: no fault armed, `versions` installed
    /// (copied from the built trees), `current` on the last, `previous` on the one before.
    pub fn baseline(&self, dir: &Path, versions: &[&str]) {
        self.link(true);
        self.reachable(Duration::from_secs(60));
        self.must(&format!(
            "rm -f /root/.ssh/environment; systemctl unset-environment LD_PRELOAD FAKETIME
for u in $(systemctl list-units --all --plain --no-legend 'nodeherd-switch-*' | awk '{{print $1}}'); do systemctl stop \"$u\"; systemctl reset-failed \"$u\" 2>/dev/null; done
while umount {d}/releases 2>/dev/null; do :; done
systemctl stop nodeherd-app.service
rm -rf {d} /var/log/nodeherd/journal.jsonl /run/nodeherd-app
mkdir -p {d}/releases
echo clean",
            d = app::DIR
        ));
        for v in versions {
            let tarball = app::baseline_tar(dir, v);
            let (ok, out) = self.sh_limit(
                &format!(
                    "mkdir -p {d}/releases/{v} && tar -xf - -C {d}/releases/{v}",
                    d = app::DIR
                ),
                Duration::from_secs(30),
                Some(&tarball),
            );
            assert!(ok, "install {v}: {out}");
        }
        let last = versions.last().expect("a version");
        let prev = if versions.len() > 1 {
            format!("ln -sfn releases/{} previous", versions[versions.len() - 2])
        } else {
            String::new()
        };
        self.must(&format!(
            "cd {d} && ln -sfn releases/{last} current && {prev}\nsystemctl reset-failed nodeherd-app.service 2>/dev/null\nsystemctl restart nodeherd-app.service nodeherd-app-health.socket",
            d = app::DIR,
            prev = if prev.is_empty() { "true".into() } else { prev },
        ));
        self.settled(last, Duration::from_secs(20));
    }

    /// Wait until the node runs `version` healthy; what was seen last.
    pub fn settled(&self, version: &str, limit: Duration) -> Seen {
        let t = Instant::now();
        loop {
            let s = self.seen();
            if s.healthy_on().as_deref() == Some(version) || t.elapsed() > limit {
                assert_eq!(
                    s.healthy_on().as_deref(),
                    Some(version),
                    "{}: not healthy on {version}: {s:?}",
                    self.name()
                );
                return s;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Read the host back.
    pub fn seen(&self) -> Seen {
        let (_, out) = self.sh(&format!(
            "d={d}
echo \"current=$(readlink $d/current)\"
echo \"previous=$(readlink $d/previous)\"
echo \"answer=$(curl -s -m 3 -o /tmp/nh-answer -w '%{{http_code}}' http://127.0.0.1:8080/health) $(cat /tmp/nh-answer 2>/dev/null)\"
echo \"switch=$(systemctl list-units --state=active,activating,deactivating --plain --no-legend 'nodeherd-switch-*' | awk '{{print $1}}' | tr '\\n' ' ')\"
if flock -n $d/.nodeherd/lock true 2>/dev/null || [ ! -e $d/.nodeherd/lock ]; then echo lock=free; else echo lock=held; fi
echo \"left=$(find $d -name '*.part' -o -name '*.partial' 2>/dev/null | tr '\\n' ' ')\"",
            d = app::DIR
        ));
        let mut s = Seen::default();
        for line in out.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let v = v.trim().to_string();
            match k {
                "current" => s.current = v,
                "previous" => s.previous = v,
                "answer" => s.answer = v,
                "switch" => s.switch_units = v,
                "lock" => s.lock_free = v == "free",
                "left" => s.leftovers = v,
                _ => {}
            }
        }
        s
    }

    /// Wait until no guarded switch runs and the lock is free (the host has decided).
    pub fn quiet(&self, limit: Duration) -> Seen {
        let t = Instant::now();
        loop {
            let s = self.seen();
            if (s.switch_units.is_empty() && s.lock_free) || t.elapsed() > limit {
                return s;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// A 256 KiB tmpfs over `releases/` holding a copy of what is there (the node keeps running).
    pub fn fill_disk(&self) {
        self.must(&format!(
            "set -e; d={d}; cp -a $d/releases /tmp/nh-rel; mount -t tmpfs -o size=256k nhfault $d/releases; cp -a /tmp/nh-rel/. $d/releases/; rm -rf /tmp/nh-rel; df -k $d/releases | tail -1",
            d = app::DIR
        ));
    }

    /// Undo [`Host::fill_disk`]: the tmpfs goes; what was unpacked into it goes with it (the
    /// releases below it are the same trees).
    pub fn free_disk(&self) {
        self.must(&format!(
            "while umount -l {}/releases 2>/dev/null; do :; done; echo ok",
            app::DIR
        ));
    }

    /// The host's clock two hours ahead for everything but PID 1 and sshd (whose seccomp
    /// sandbox kills a preloaded libfaketime): libfaketime in every SSH session
    /// (`~/.ssh/environment`) and in every unit started from now on (the manager's environment:
    /// the guarded switch, the lock holder, the node). The console's clock is the machine's.
    pub fn skew(&self) {
        let (ok, out) = self.sh_limit(
            "cat > /usr/local/lib/libfaketime.so.1
grep -q '^PermitUserEnvironment yes' /etc/ssh/sshd_config || echo 'PermitUserEnvironment yes' >> /etc/ssh/sshd_config
systemctl reload ssh
mkdir -p /root/.ssh && printf 'LD_PRELOAD=/usr/local/lib/libfaketime.so.1\nFAKETIME=+2h\n' > /root/.ssh/environment
systemctl set-environment LD_PRELOAD=/usr/local/lib/libfaketime.so.1 FAKETIME=+2h
systemctl restart nodeherd-app.service
echo skewed",
            Duration::from_secs(30),
            Some(Path::new(FAKETIME_LIB)),
        );
        assert!(ok, "skew: {out}");
        let (_, out) = self.sh("date -u +%s");
        let host_now: i64 = out.trim().parse().unwrap_or_else(|_| panic!("date: {out}"));
        let now = chrono::Utc::now().timestamp();
        assert!(
            host_now - now > 7000,
            "the host's clock is not ahead: {host_now} vs {now}"
        );
    }

    /// The host's journal lines of the last run (for a report).
    pub fn journal(&self) -> String {
        self.sh("tail -n 5 /var/log/nodeherd/journal.jsonl 2>/dev/null; journalctl -q --no-pager -n 15 -u 'nodeherd-switch-*' 2>/dev/null")
            .1
    }
}
