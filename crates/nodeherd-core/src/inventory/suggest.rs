//! "Did you mean" suggestions by edit distance; shared by the inventory and the selector.
//!
//! Owns: Levenshtein distance and picking the closest candidates. Pure; touches nothing else.
//!
//! May not touch: anything but the strings it is given (no inventory types, no I/O).

/// Levenshtein distance between two strings, by characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Up to three candidates close to `word` (distance at most a third of its length, at least 2),
/// nearest first, ties in the candidates' order.
pub fn closest<'a, I, S>(word: &str, candidates: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str> + 'a,
{
    let limit = (word.chars().count() / 3).max(2);
    let lower = word.to_lowercase();
    let lower_len = lower.chars().count();
    let mut scored: Vec<(usize, usize, String)> = candidates
        .into_iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let c = c.as_ref();
            // The distance is at least the difference in length: skip the quadratic table when
            // that alone is over the limit (a 10 KB word against short names took 0.25 s).
            let c_lower = c.to_lowercase();
            if lower_len.abs_diff(c_lower.chars().count()) > limit {
                return None;
            }
            let d = edit_distance(&lower, &c_lower);
            (d <= limit && c != word).then(|| (d, i, c.to_string()))
        })
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.2 == b.2);
    scored.into_iter().take(3).map(|(_, _, c)| c).collect()
}

/// `"a", "b" or "c"` for messages.
pub fn quoted_list(items: &[String], last_sep: &str) -> String {
    let q: Vec<String> = items.iter().map(|s| format!("\"{s}\"")).collect();
    match q.len() {
        0 => String::new(),
        1 => q[0].clone(),
        n => format!("{} {last_sep} {}", q[..n - 1].join(", "), q[n - 1]),
    }
}

/// `did you mean "x"?` or `None` when nothing is close.
pub fn did_you_mean<'a, I, S>(word: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str> + 'a,
{
    let near = closest(word, candidates);
    (!near.is_empty()).then(|| format!("did you mean {}?", quoted_list(&near, "or")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance() {
        assert_eq!(edit_distance("adress", "address"), 1);
        assert_eq!(edit_distance("lodstar", "lodestar"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn a_huge_word_is_refused_by_length_alone() {
        // 50 000 letters against ten names of 5 000: the full tables would be 2.5e9 cells.
        let word = "b".repeat(50_000);
        let names: Vec<String> = (0..10).map(|i| format!("bn-{i}").repeat(1_250)).collect();
        let t = std::time::Instant::now();
        assert!(closest(&word, &names).is_empty());
        assert!(
            t.elapsed() < std::time::Duration::from_secs(1),
            "{:?}",
            t.elapsed()
        );
        // Near in length still counts: one letter more is one edit.
        assert_eq!(closest("bastions", ["bastion"]), vec!["bastion"]);
    }

    #[test]
    fn closest_picks_near_names_first() {
        let c = closest("bn-3", ["bn-1", "vc-1", "bn-2", "bastion"]);
        // "vc-1" is 3 edits away, beyond the limit for a 4-letter word.
        assert_eq!(c, vec!["bn-1", "bn-2"]);
        assert_eq!(closest("bastoin", ["bastion", "bn-1"]), vec!["bastion"]);
        assert!(closest("zzzzzzzz", ["bn-1"]).is_empty());
        assert_eq!(
            did_you_mean("lodstar", ["nimbus", "lodestar"]).as_deref(),
            Some("did you mean \"lodestar\"?")
        );
    }
}
