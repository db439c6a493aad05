//! Fingerprints of mapped records: equal fingerprints mean "nothing to
//! send". Stable across releases and platforms (SHA-256 of a canonical
//! encoding with sorted keys), because they are stored.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The fingerprint of `value`: 32 hex digits.
pub fn fingerprint(value: &Value) -> String {
    let mut hasher = Sha256::new();
    feed(&mut hasher, value);
    hex::encode(&hasher.finalize()[..16])
}

/// [`fingerprint`] of `Value::Object(map)`, without copying the map.
pub fn fingerprint_object(map: &Map<String, Value>) -> String {
    let mut hasher = Sha256::new();
    feed_object(&mut hasher, map);
    hex::encode(&hasher.finalize()[..16])
}

fn feed_object(h: &mut Sha256, map: &Map<String, Value>) {
    // Sorted here, not trusted to the map, so the fingerprint does not
    // depend on serde_json's `preserve_order` feature.
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    h.update(b"{");
    for (k, v) in entries {
        h.update((k.len() as u64).to_be_bytes());
        h.update(k.as_bytes());
        feed(h, v);
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
    fn objects_fingerprint_alike_either_way_in() {
        let v = json!({"name": "Acme", "address": {"city": "Springfield"}, "n": 2});
        let Value::Object(map) = &v else {
            unreachable!()
        };
        assert_eq!(fingerprint_object(map), fingerprint(&v));
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
