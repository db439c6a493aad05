//! AP's cursor pagination and the query helpers of its list endpoints.
//!
//! A page is `{data, end_cursor, start_cursor, has_next_page,
//! has_previous_page}` (the OpenAPI `PaginatedResponse-*` schemas). A
//! cursor is standard base64 of a MessagePack map `{"i": <16-byte id>}`,
//! the shape of the reference's example cursor `gaFpxBACEaXBVABEYbHG+X9LyLnH`
//! — it may hold `+` and `/`, so clients must percent-encode it.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{Kind, bad_param, seq_of_bytes, uuid_bytes};
use crate::clock::{self, Millis};
use crate::error::ApiError;

pub type Query = HashMap<String, String>;

/// Default and largest page size.
pub const DEFAULT_LIMIT: usize = 100;

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn b64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(B64[(n >> shift & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decode standard base64 (padding optional).
pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = B64.iter().position(|x| *x == c)? as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits & 0xff) as u8);
        }
    }
    Some(out)
}

const CURSOR_HEAD: [u8; 5] = [0x81, 0xa1, b'i', 0xc4, 0x10];

/// The cursor pointing at record `seq` of `kind`.
pub fn cursor(kind: Kind, seq: u64) -> String {
    let mut b = CURSOR_HEAD.to_vec();
    b.extend_from_slice(&uuid_bytes(kind, seq));
    b64_encode(&b)
}

/// The record a cursor points at.
pub fn decode_cursor(kind: Kind, s: &str) -> Option<u64> {
    let b = b64_decode(s)?;
    if b.len() != 21 || b[..5] != CURSOR_HEAD {
        return None;
    }
    seq_of_bytes(kind, &b[5..])
}

/// A non-empty query parameter.
pub fn param<'a>(q: &'a Query, name: &str) -> Option<&'a str> {
    q.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// An RFC 3339 time (a bare `YYYY-MM-DD` is taken as midnight UTC).
pub fn time_param(q: &Query, name: &str) -> Result<Option<Millis>, ApiError> {
    match param(q, name) {
        None => Ok(None),
        Some(s) => clock::parse_datetime(s)
            .map(Some)
            .ok_or_else(|| bad_param(name, "must be an RFC3339 date-time")),
    }
}

/// Whether `t` is within the optional inclusive bounds.
pub fn within(t: Millis, start: Option<Millis>, end: Option<Millis>) -> bool {
    start.is_none_or(|s| t >= s) && end.is_none_or(|e| t <= e)
}

/// One page of `items` (sorted by sequence) as the query's `limit`,
/// `after` and `before` select it.
pub fn paginate(kind: Kind, items: Vec<(u64, Value)>, q: &Query) -> Result<Value, ApiError> {
    let limit = match param(q, "limit") {
        None => DEFAULT_LIMIT,
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n >= 1 => (n as usize).min(DEFAULT_LIMIT),
            _ => return Err(bad_param("limit", "must be a positive integer")),
        },
    };
    let after = param(q, "after");
    let before = param(q, "before");
    if after.is_some() && before.is_some() {
        return Err(bad_param("before", "cannot be combined with after"));
    }
    let decode = |name: &str, s: &str| {
        decode_cursor(kind, s).ok_or_else(|| bad_param(name, "invalid cursor"))
    };
    let (page, more_after, more_before) = if let Some(a) = after {
        let a = decode("after", a)?;
        let rest: Vec<_> = items.iter().filter(|(s, _)| *s > a).collect();
        let page: Vec<_> = rest.iter().take(limit).cloned().collect();
        let more_before = items.iter().any(|(s, _)| *s <= a);
        (page, rest.len() > limit, more_before)
    } else if let Some(b) = before {
        let b = decode("before", b)?;
        let rest: Vec<_> = items.iter().filter(|(s, _)| *s < b).collect();
        let skip = rest.len().saturating_sub(limit);
        let page: Vec<_> = rest[skip..].to_vec();
        let more_after = items.iter().any(|(s, _)| *s >= b);
        (page, more_after, skip > 0)
    } else {
        let page: Vec<_> = items.iter().take(limit).collect();
        (page, items.len() > limit, false)
    };
    let start = page
        .first()
        .map(|(s, _)| cursor(kind, *s))
        .unwrap_or_default();
    let end = page
        .last()
        .map(|(s, _)| cursor(kind, *s))
        .unwrap_or_default();
    let has_next = !page.is_empty() && more_after;
    let has_previous = more_before;
    let data: Vec<Value> = page.into_iter().map(|(_, v)| v.clone()).collect();
    Ok(json!({
        "data": data,
        "end_cursor": end,
        "start_cursor": start,
        "has_next_page": has_next,
        "has_previous_page": has_previous,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for s in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
            assert_eq!(b64_decode(&b64_encode(s.as_bytes())).unwrap(), s.as_bytes());
        }
        assert_eq!(b64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(b64_encode(b"fo"), "Zm8=");
        // The reference's example cursor has this shape.
        let ex = b64_decode("gaFpxBACEaXBVABEYbHG+X9LyLnH").unwrap();
        assert_eq!(ex.len(), 21);
        assert_eq!(ex[..5], CURSOR_HEAD);
        assert_eq!(cursor(Kind::Invoice, 7).len(), 28);
        assert_eq!(
            decode_cursor(Kind::Invoice, &cursor(Kind::Invoice, 7)),
            Some(7)
        );
        assert_eq!(decode_cursor(Kind::Payout, &cursor(Kind::Invoice, 7)), None);
    }

    #[test]
    fn pages_forward_and_back() {
        let items: Vec<(u64, Value)> = (1..=7).map(|s| (s, json!(s))).collect();
        let q = |pairs: &[(&str, &str)]| -> Query {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let p1 = paginate(Kind::Customer, items.clone(), &q(&[("limit", "3")])).unwrap();
        assert_eq!(p1["data"], json!([1, 2, 3]));
        assert_eq!(p1["has_next_page"], true);
        assert_eq!(p1["has_previous_page"], false);
        let end = p1["end_cursor"].as_str().unwrap();
        let p2 = paginate(
            Kind::Customer,
            items.clone(),
            &q(&[("limit", "3"), ("after", end)]),
        )
        .unwrap();
        assert_eq!(p2["data"], json!([4, 5, 6]));
        assert_eq!(p2["has_previous_page"], true);
        let back = paginate(
            Kind::Customer,
            items.clone(),
            &q(&[
                ("limit", "2"),
                ("before", p2["start_cursor"].as_str().unwrap()),
            ]),
        )
        .unwrap();
        assert_eq!(back["data"], json!([2, 3]));
        assert_eq!(back["has_previous_page"], true);
        assert_eq!(back["has_next_page"], true);
        let end = p2["end_cursor"].as_str().unwrap();
        let p3 = paginate(
            Kind::Customer,
            items.clone(),
            &q(&[("limit", "3"), ("after", end)]),
        )
        .unwrap();
        assert_eq!(p3["data"], json!([7]));
        assert_eq!(p3["has_next_page"], false);
        assert!(paginate(Kind::Customer, items.clone(), &q(&[("limit", "0")])).is_err());
        assert!(paginate(Kind::Customer, items, &q(&[("after", "zzz")])).is_err());
    }
}
