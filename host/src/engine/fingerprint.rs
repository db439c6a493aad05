//! Fingerprints of mapped records: equal fingerprints mean "nothing to
//! send". Stable across releases and platforms (SHA-256 of a canonical
//! encoding with sorted keys), because they are stored.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::mapping::Mapped;

/// The fingerprint of `value`: 32 hex digits.
pub fn fingerprint(value: &Value) -> String {
    let mut hasher = Sha256::new();
    feed(&mut hasher, value);
    hex::encode(&hasher.finalize()[..16])
}

/// [`fingerprint`] of `mapped.into_json()`, without building it.
pub fn fingerprint_mapped(mapped: &Mapped) -> String {
    let mut hasher = Sha256::new();
    feed_mapped(&mut hasher, mapped);
    hex::encode(&hasher.finalize()[..16])
}

fn feed_mapped(h: &mut Sha256, mapped: &Mapped) {
    match mapped {
        Mapped::Json(v) => feed(h, v),
        Mapped::Object(entries) => {
            feed_entries(h, entries.iter().map(|(k, v)| (k.as_ref(), v)), feed_mapped)
        }
        Mapped::Array(items) => {
            h.update(b"[");
            for item in items {
                feed_mapped(h, item);
            }
            h.update(b"]");
        }
    }
}

fn feed_object(h: &mut Sha256, map: &Map<String, Value>) {
    feed_entries(h, map.iter().map(|(k, v)| (k.as_str(), v)), feed);
}

/// An object's entries in key order. Sorted here when they are not, not
/// trusted to the map, so the fingerprint does not depend on
/// serde_json's `preserve_order` feature. A key given twice (only a
/// hand-built `Mapped` can) counts once with its last value, as in the
/// JSON object made of the entries.
fn feed_entries<'e, V: ?Sized + 'e>(
    h: &mut Sha256,
    entries: impl Iterator<Item = (&'e str, &'e V)> + Clone,
    feed_value: fn(&mut Sha256, &V),
) {
    let in_order = entries
        .clone()
        .zip(entries.clone().skip(1))
        .all(|(a, b)| a.0 < b.0);
    let mut sorted = Vec::new();
    if !in_order {
        sorted.extend(entries.clone());
        // Stable, so of equal keys the last stays last and is kept.
        sorted.sort_by(|a: &(&str, &V), b| a.0.cmp(b.0));
        sorted.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                *kept = *later;
            }
            same
        });
    }
    h.update(b"{");
    let mut feed_entry = |(k, v): (&str, &V)| {
        h.update((k.len() as u64).to_be_bytes());
        h.update(k.as_bytes());
        feed_value(h, v);
    };
    if in_order {
        entries.for_each(&mut feed_entry);
    } else {
        sorted.into_iter().for_each(&mut feed_entry);
    }
    h.update(b"}");
}

fn feed(h: &mut Sha256, value: &Value) {
    match value {
        Value::Null => h.update(b"n"),
        Value::Bool(b) => h.update(if *b { b"t" } else { b"f" }),
        Value::Number(n) => {
            // 1 and 1.0 are the same amount to a vendor.
            h.update(b"#");
            match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => h.update((f as i64).to_string()),
                _ => h.update(n.to_string()),
            }
            h.update(b";");
        }
        Value::String(s) => {
            h.update(b"s");
            h.update((s.len() as u64).to_be_bytes());
            h.update(s.as_bytes());
        }
        Value::Array(items) => {
            h.update(b"[");
            for item in items {
                feed(h, item);
            }
            h.update(b"]");
        }
        Value::Object(map) => feed_object(h, map),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_and_integral_floats_do_not_matter_but_values_do() {
        let a = fingerprint(&json!({"a": 1, "b": {"x": "y", "z": [1, 2]}}));
        let b = fingerprint(&json!({"b": {"z": [1.0, 2], "x": "y"}, "a": 1.0}));
        assert_eq!(a, b);
        assert_ne!(
            a,
            fingerprint(&json!({"a": 1, "b": {"x": "y", "z": [2, 1]}}))
        );
        assert_ne!(
            fingerprint(&json!({"a": "1"})),
            fingerprint(&json!({"a": 1}))
        );
        assert_ne!(
            fingerprint(&json!({"ab": ""})),
            fingerprint(&json!({"a": "b"}))
        );
        assert_eq!(a.len(), 32);
    }

    #[test]
    fn a_mapped_record_fingerprints_as_its_json() {
        use std::borrow::Cow;
        let (city, n) = (json!({"city": "Springfield"}), json!(2.0));
        let entry = |k: &'static str, v| (Cow::Borrowed(k), v);
        let borrowed = |v| Mapped::Json(Cow::Borrowed(v));
        let mapped = Mapped::Object(vec![
            entry("address", borrowed(&city)),
            entry(
                "lines",
                Mapped::Array(vec![Mapped::Object(vec![entry("n", borrowed(&n))])]),
            ),
            entry("name", Mapped::Json(Cow::Owned(json!("Acme")))),
        ]);
        let json = mapped.clone().into_json();
        assert_eq!(fingerprint_mapped(&mapped), fingerprint(&json));
        // Entries out of order (not what a plan builds) are still sorted.
        let Mapped::Object(mut entries) = mapped else {
            unreachable!()
        };
        entries.reverse();
        assert_eq!(
            fingerprint_mapped(&Mapped::Object(entries.clone())),
            fingerprint(&json)
        );
        // A key given twice counts once, with its last value.
        entries.insert(0, entry("name", Mapped::Json(Cow::Owned(json!("Old")))));
        let twice = Mapped::Object(entries);
        assert_eq!(twice.clone().into_json(), json);
        assert_eq!(fingerprint_mapped(&twice), fingerprint(&json));
    }

    #[test]
    fn fingerprints_are_stable_because_they_are_stored() {
        // A changed encoding would make every stored record look changed
        // (one needless write per record after an upgrade).
        assert_eq!(
            fingerprint(&json!({"a": 1, "b": {"x": "y", "z": [1, 2.5, null, true]}})),
            "62541eead7bf40ea02e62f8b7b2c63f2"
        );
    }
}
