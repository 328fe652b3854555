//! Alertmanager shapes: the body of `POST /api/v2/alerts` (what a Prometheus sends an Alertmanager) and the
//! Alertmanager webhook payload (`"version": "4"`, what an Alertmanager sends its webhook receivers), built
//! from notifications. Pure: no clock (times come from the notifications), no I/O.
//!
//! Owns: [`labels`], [`annotations`], [`api_alert`], [`api_body`], [`webhook_payload`], [`refresh`].
//! May not touch: sending (`nodeherd_transport::notify`), alert state (`crate::alerts::engine`).
//!
//! A FIRING alert is posted with `startsAt` = when its condition was first seen and no `endsAt`, so the
//! Alertmanager keeps it active for its `resolve_timeout` (5m by default); nodeherd re-posts every firing
//! alert on every evaluation round ([`refresh`]), which keeps it active as long as rounds run more often
//! than that. A RESOLVED alert is posted with `endsAt` = the resolution time.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::alerts::engine::{EngineState, Notification, NotificationKind, Phase};
use crate::alerts::rules::{Rule, Severity};

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Page => "page",
        Severity::Warn => "warn",
        Severity::Info => "info",
    }
}

/// The identifying labels: the rule's own labels, then `alertname` (the rule), `host`, `node`, `instance`
/// (`host/node`, or the host), `severity` and `job = "nodeherd"` (these win over a rule label of that name).
pub fn labels(n: &Notification) -> BTreeMap<String, String> {
    let mut l = n.labels.clone();
    l.insert("alertname".into(), n.rule.clone());
    l.insert("host".into(), n.host.clone());
    let instance = match &n.node {
        Some(node) => {
            l.insert("node".into(), node.clone());
            format!("{}/{node}", n.host)
        }
        None => n.host.clone(),
    };
    l.insert("instance".into(), instance);
    l.insert("severity".into(), severity_word(n.severity).into());
    l.insert("job".into(), "nodeherd".into());
    l
}

/// `summary` (the one-line title) and `description` (the rule's hint, filled), plus `value` when known.
pub fn annotations(n: &Notification) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    a.insert("summary".into(), crate::alerts::wording::title(n));
    a.insert("description".into(), n.text.clone());
    if let Some(v) = &n.value {
        a.insert("value".into(), v.clone());
    }
    a
}

/// Where the alert came from: `nodeherd://HOST/NODE?rule=RULE` unless an external URL is configured.
pub fn generator_url(n: &Notification, external_url: Option<&str>) -> String {
    match external_url {
        Some(u) => u.to_string(),
        None => format!(
            "nodeherd://{}/{}?rule={}",
            n.host,
            n.node.as_deref().unwrap_or(""),
            n.rule
        ),
    }
}

/// One element of `POST /api/v2/alerts`.
pub fn api_alert(n: &Notification, external_url: Option<&str>) -> Value {
    let mut v = json!({
        "labels": labels(n),
        "annotations": annotations(n),
        "startsAt": ts(n.since),
        "generatorURL": generator_url(n, external_url),
    });
    if n.kind == NotificationKind::Resolved {
        v["endsAt"] = json!(ts(n.at));
    }
    v
}

/// The whole `POST /api/v2/alerts` body for a batch.
pub fn api_body(batch: &[Notification], external_url: Option<&str>) -> Value {
    Value::Array(batch.iter().map(|n| api_alert(n, external_url)).collect())
}

/// The Alertmanager webhook payload (`version` "4") for one notification, as an Alertmanager receiver
/// named `receiver` would get it: one group holding this one alert, grouped by `alertname`.
pub fn webhook_payload(n: &Notification, receiver: &str, external_url: Option<&str>) -> Value {
    let status = match n.kind {
        NotificationKind::Firing => "firing",
        NotificationKind::Resolved => "resolved",
    };
    let l = labels(n);
    let ends = match n.kind {
        NotificationKind::Firing => "0001-01-01T00:00:00Z".to_string(),
        NotificationKind::Resolved => ts(n.at),
    };
    let fingerprint = fingerprint(&l);
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{}\"}}", n.rule),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": { "alertname": n.rule },
        "commonLabels": l,
        "commonAnnotations": annotations(n),
        "externalURL": external_url.unwrap_or("nodeherd://alerts"),
        "alerts": [{
            "status": status,
            "labels": l,
            "annotations": annotations(n),
            "startsAt": ts(n.since),
            "endsAt": ends,
            "generatorURL": generator_url(n, external_url),
            "fingerprint": fingerprint,
        }],
    })
}

/// A stable 16-hex-digit fingerprint of a label set (FNV-1a over `name=value` pairs in order).
fn fingerprint(l: &BTreeMap<String, String>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in l {
        for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xfe]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// FIRING notifications for every alert that is firing, already notified and not silenced at `now`, and not
/// already in `sent` (this round's notifications): what an Alertmanager must be told again to keep it active.
pub fn refresh(
    state: &EngineState,
    rules: &[Rule],
    sent: &[Notification],
    now: DateTime<Utc>,
) -> Vec<Notification> {
    state
        .active
        .values()
        .filter(|a| a.phase == Phase::Firing && a.notified)
        .filter(|a| !state.is_silenced(now, &a.rule, &a.host, a.node.as_deref()))
        .filter(|a| {
            !sent
                .iter()
                .any(|n| n.rule == a.rule && n.host == a.host && n.node == a.node)
        })
        .filter_map(|a| {
            let rule = rules.iter().find(|r| r.name == a.rule)?;
            Some(Notification::for_alert(
                NotificationKind::Firing,
                rule,
                a,
                now,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::engine::Engine;
    use crate::alerts::rules::parse_rules;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn note(kind: NotificationKind) -> Notification {
        Notification {
            kind,
            rule: "unit-not-active".into(),
            severity: Severity::Page,
            pages: true,
            host: "h1".into(),
            node: Some("bn".into()),
            value: None,
            text: "h1/bn is down".into(),
            labels: BTreeMap::from([("team".into(), "ops".into())]),
            since: t(0),
            at: t(120),
        }
    }

    fn snap(name: &str, v: &Value) {
        let mut s = insta::Settings::clone_current();
        s.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/../../snapshots"));
        s.set_prepend_module_to_snapshot(false);
        s.bind(|| insta::assert_json_snapshot!(name, v));
    }

    #[test]
    fn firing_has_no_end_and_resolved_ends_at_resolution() {
        let f = api_alert(&note(NotificationKind::Firing), None);
        assert!(f.get("endsAt").is_none());
        assert_eq!(f["startsAt"], "2027-01-15T08:00:00.000Z");
        let r = api_alert(&note(NotificationKind::Resolved), None);
        assert_eq!(r["endsAt"], "2027-01-15T08:02:00.000Z");
        assert_eq!(r["labels"]["alertname"], "unit-not-active");
        assert_eq!(r["labels"]["instance"], "h1/bn");
        assert_eq!(r["labels"]["team"], "ops");
        snap(
            "alertmanager_api_body",
            &api_body(
                &[
                    note(NotificationKind::Firing),
                    note(NotificationKind::Resolved),
                ],
                Some("http://console.example/"),
            ),
        );
    }

    #[test]
    fn webhook_payload_has_alertmanagers_fields() {
        let p = webhook_payload(&note(NotificationKind::Resolved), "nodeherd", None);
        assert_eq!(p["version"], "4");
        assert_eq!(p["status"], "resolved");
        assert_eq!(p["alerts"][0]["endsAt"], "2027-01-15T08:02:00.000Z");
        let f = webhook_payload(&note(NotificationKind::Firing), "nodeherd", None);
        assert_eq!(f["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
        assert_eq!(f["alerts"][0]["fingerprint"], p["alerts"][0]["fingerprint"]);
        snap("alertmanager_webhook_firing", &f);
    }

    #[test]
    fn refresh_resends_firing_alerts_not_sent_this_round_nor_silenced() {
        let rules = parse_rules(
            "[[rule]]\nname = \"down\"\ncondition = \"unit_not_active\"\nfor = \"0s\"\nseverity = \"page\"\nhint = \"{host}/{node} down\"\n",
        )
        .unwrap();
        let o = |host: &str| crate::alerts::Observation {
            host: host.into(),
            node: Some("bn".into()),
            reachable: true,
            unit_active: Some(false),
            ..Default::default()
        };
        let mut e = Engine::new(rules.clone());
        let sent = e.evaluate(t(0), &[o("a"), o("b")]);
        assert_eq!(sent.len(), 2);
        assert!(
            refresh(e.state(), &rules, &sent, t(0)).is_empty(),
            "just sent"
        );
        let again = e.evaluate(t(60), &[o("a"), o("b")]);
        assert!(again.is_empty());
        let r = refresh(e.state(), &rules, &again, t(60));
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].text, "a/bn down");
        assert_eq!(r[0].since, t(0));
        e.silence(
            crate::alerts::SilenceMatcher {
                host: Some("b".into()),
                ..Default::default()
            },
            t(3600),
        );
        let r = refresh(e.state(), &rules, &[], t(120));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].host, "a");
    }
}
