//! The allocation budget of a load, and the price of a header before it is
//! parsed.
//!
//! Parsing JSON can cost far more memory than the text: `"",` is three bytes
//! and becomes a 24-byte `String`, held for a while in serde's buffered
//! `Content` (32 bytes) when it sits inside an internally tagged enum, in
//! vectors that double as they grow. Measured before the budget, a header of
//! empty labels peaked at 25 times its size. So the header is priced first,
//! by a scan that allocates nothing and does not recurse: every value it
//! holds costs what the parse of its kind can allocate for it at most
//! (numbers, strings and containers; more inside `schema` and `output`,
//! whose tagged enums are buffered), plus its string bytes. A header whose
//! price is over its share of the budget is refused before it is parsed.
//!
//! The payload side keeps the same budget by construction: every decoder
//! checks a count against the bytes left before it allocates for it, and
//! the smallest encoded item decodes into at most a few times its size.
//! `tests/artifact_memory.rs` measures each hostile shape against
//! [`ALLOCATION_MULTIPLE`] and [`ALLOCATION_ALLOWANCE`].

/// A load (read, header, payload, model, warm-up) allocates at most this
/// many times the file size, plus [`ALLOCATION_ALLOWANCE`]; shown per hostile
/// shape by a counting-allocator test.
pub const ALLOCATION_MULTIPLE: u64 = 8;

/// The fixed part of a load's allocation budget: 32 MiB, so that small files
/// with dense headers (a 100,000-level categorical, a reference sample of
/// many features) still load.
pub const ALLOCATION_ALLOWANCE: u64 = 32 << 20;

/// The most a header may be priced at: its share of the budget, leaving
/// the rest for the file itself, the payload and the model.
pub(crate) fn header_budget(header_len: usize) -> u64 {
    (ALLOCATION_MULTIPLE - 2) * header_len as u64 + ALLOCATION_ALLOWANCE
}

/// What one value can cost while parsing, by where it sits.
#[derive(Clone, Copy)]
struct Prices {
    number: u64,
    string: u64,
    container: u64,
    string_byte: u64,
}

/// Plain structs and vectors: a number is an `f64` in a vector that may be
/// mid-growth (3 × 8); a string or container is a `String`/`Vec` there
/// (3 × 24) and its first heap block.
const PLAIN: Prices = Prices {
    number: 24,
    string: 80,
    container: 96,
    string_byte: 2,
};

/// Inside `schema` and `output`: internally tagged enums buffer every value
/// as serde `Content` (32 bytes, in vectors mid-growth) and then build the
/// typed value from it, both alive at once; keys are buffered too.
const TAGGED: Prices = Prices {
    number: 128,
    string: 256,
    container: 256,
    string_byte: 3,
};

/// Top-level members whose values parse through tagged enums.
const TAGGED_MEMBERS: [&[u8]; 2] = [b"schema", b"output"];

/// The header's price in bytes, or `Err` with the price so far once it is
/// over `budget` (the scan stops there). Malformed JSON is priced as far as it goes; the parser
/// reports it afterwards.
pub(crate) fn header_price(json: &[u8], budget: u64) -> Result<u64, u64> {
    let mut price = 0u64;
    let mut depth = 0usize;
    // Prices of the current top-level member's value.
    let mut prices = PLAIN;
    // At depth 1, the next string is a member name.
    let mut expect_key = false;
    let mut in_scalar = false;
    let mut i = 0;
    while i < json.len() {
        let b = json[i];
        match b {
            b'"' => {
                in_scalar = false;
                // Find the closing quote, skipping escapes.
                let start = i + 1;
                let mut j = start;
                let mut escaped = false;
                while j < json.len() {
                    match json[j] {
                        _ if escaped => escaped = false,
                        b'\\' => escaped = true,
                        b'"' => break,
                        _ => {}
                    }
                    j += 1;
                }
                let text = &json[start..j.min(json.len())];
                if depth == 1 && expect_key {
                    expect_key = false;
                    // A name spelled with escapes may still be `schema`:
                    // price it as tagged.
                    prices = if text.contains(&b'\\') || TAGGED_MEMBERS.contains(&text) {
                        TAGGED
                    } else {
                        PLAIN
                    };
                } else {
                    price += prices.string + prices.string_byte * text.len() as u64;
                }
                i = j + 1;
                if price > budget {
                    return Err(price);
                }
                continue;
            }
            b'{' | b'[' => {
                in_scalar = false;
                depth += 1;
                if depth == 1 {
                    expect_key = b == b'{';
                } else {
                    price += prices.container;
                }
            }
            b'}' | b']' => {
                in_scalar = false;
                depth = depth.saturating_sub(1);
            }
            b',' => {
                in_scalar = false;
                if depth == 1 {
                    expect_key = true;
                }
            }
            b' ' | b'\t' | b'\n' | b'\r' | b':' => in_scalar = false,
            _ => {
                // A number or literal: priced at its first byte.
                if !in_scalar {
                    in_scalar = true;
                    price += prices.number;
                }
            }
        }
        if price > budget {
            return Err(price);
        }
        i += 1;
    }
    Ok(price)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_priced_by_kind_and_place() {
        assert_eq!(header_price(b"{}", u64::MAX), Ok(0));
        // One number, one string of 2 bytes, one array: plain prices.
        assert_eq!(
            header_price(br#"{"warmup": [1.5, "ab"]}"#, u64::MAX),
            Ok(96 + 24 + 80 + 4)
        );
        // The same under `output`: tagged prices.
        assert_eq!(
            header_price(br#"{"output": [1.5, "ab"]}"#, u64::MAX),
            Ok(256 + 128 + 256 + 6)
        );
        // Members after a tagged one are plain again.
        assert_eq!(
            header_price(br#"{"output": 1, "tags": 2}"#, u64::MAX),
            Ok(128 + 24)
        );
        // An escaped name might be `schema`.
        assert_eq!(header_price(br#"{"sch\u0065ma": 1}"#, u64::MAX), Ok(128));
        // Braces and commas inside strings are text.
        assert_eq!(header_price(br#"{"tags": "[,{"}"#, u64::MAX), Ok(80 + 6));
    }

    #[test]
    fn the_scan_stops_at_the_budget() {
        let json = format!("{{\"output\": [{}]}}", vec!["\"\""; 1_000_000].join(","));
        assert!(header_price(json.as_bytes(), 10_000).is_err());
        assert!(header_price(json.as_bytes(), u64::MAX).unwrap() > 256_000_000);
    }
}
