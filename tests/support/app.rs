//! The light generic node of the lab suites ("app"): a shell daemon under systemd whose release is
//! a directory with VERSION, bin/app and bin/health, and an HTTP health endpoint served by systemd
//! socket activation on 127.0.0.1:8080 (declared as the node's probe). A release with a `BROKEN`
//! file fails its self-check (the daemon stays up, the probe answers 503); one with a `CRASH` file
//! exits at once. Used by guard_lab, upgrade_fleet and the fault matrix. Owns: the scripts, the
//! units, a release's tree. May not touch: hosts (the suites install these), feeds, tarballs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub const DAEMON: &str = r#"#!/bin/sh
# nodeherd test app: checks itself at start and says so in /run/nodeherd-app (CRASH: exits at once).
here=$(dirname "$(dirname "$(readlink -f "$0")")")
v=$(cat "$here/VERSION")
mkdir -p /run/nodeherd-app
echo "$v" > /run/nodeherd-app/version
if [ -e "$here/CRASH" ]; then
    echo "app $v: crashed at start" >&2
    exit 1
fi
if [ -e "$here/BROKEN" ]; then
    echo "app $v: self-check failed: $(cat "$here/BROKEN")" | tee /run/nodeherd-app/health
else
    echo ok > /run/nodeherd-app/health
    echo "app $v started"
fi
trap 'exit 0' TERM INT
while :; do sleep 2 & wait $!; done
"#;

/// One HTTP answer on stdin/stdout (systemd socket activation, `Accept=yes`).
pub const HEALTH: &str = r#"#!/bin/sh
cr=$(printf '\r')
while IFS= read -r line; do
    case "$line" in "" | "$cr") break ;; esac
done
v=$(cat /run/nodeherd-app/version 2>/dev/null || echo unknown)
h=$(cat /run/nodeherd-app/health 2>/dev/null || echo "not started")
if [ "$h" = ok ] && systemctl is-active --quiet nodeherd-app.service; then
    code="200 OK"
else
    code="503 Service Unavailable"
fi
body="{\"version\":\"$v\",\"health\":\"$h\"}"
printf 'HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' "$code" "${#body}" "$body"
"#;

pub const UNITS: &str = r"cat > /etc/systemd/system/nodeherd-app.service <<'EOF'
[Unit]
Description=nodeherd test app (a generic node)
[Service]
ExecStart=/opt/nodeherd/app/current/bin/app
Restart=on-failure
RestartSec=1
[Install]
WantedBy=multi-user.target
EOF
cat > /etc/systemd/system/nodeherd-app-health.socket <<'EOF'
[Socket]
ListenStream=127.0.0.1:8080
Accept=yes
[Install]
WantedBy=sockets.target
EOF
cat > /etc/systemd/system/nodeherd-app-health@.service <<'EOF'
[Service]
ExecStart=/opt/nodeherd/app/current/bin/health
StandardInput=socket
StandardOutput=socket
StandardError=journal
EOF
systemctl daemon-reload";

/// A release directory of the app (`broken`: its self-check fails, the daemon stays up).
pub fn release_dir(root: &Path, version: &str, broken: Option<&str>) -> PathBuf {
    let d = root.join(format!("app-{version}"));
    std::fs::create_dir_all(d.join("bin")).expect("app dir");
    std::fs::write(d.join("VERSION"), format!("{version}\n")).expect("write");
    std::fs::write(d.join("bin/app"), DAEMON).expect("write");
    std::fs::write(d.join("bin/health"), HEALTH).expect("write");
    if let Some(why) = broken {
        std::fs::write(d.join("BROKEN"), format!("{why}\n")).expect("write");
    }
    let st = Command::new("chmod")
        .arg("0755")
        .arg(d.join("bin/app"))
        .arg(d.join("bin/health"))
        .status()
        .expect("chmod");
    assert!(st.success());
    d
}
