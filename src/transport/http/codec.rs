//! Tensor data of the Open Inference Protocol: datatypes, JSON `data`
//! arrays, and the binary tensor data extension.
//!
//! In the binary extension a request or response body is a JSON header of
//! `Inference-Header-Content-Length` bytes followed by the raw tensors, in
//! the order of the tensors that declare a `binary_data_size` parameter.
//! Fixed-size elements are little-endian; each `BYTES` element is a 4-byte
//! little-endian length followed by that many bytes.
//!
//! Every length is checked against the bytes actually present before
//! anything is allocated, so a bogus header cannot make the server allocate
//! more than the (limited) body it received.

use axum::body::Bytes;
use axum::http::HeaderValue;
use serde_json::Value;

use super::error::Rejection;
use crate::schema::FeatureValue;

/// The HTTP header that announces the JSON part's length.
pub(crate) const HEADER_LENGTH: &str = "inference-header-content-length";

/// The tensor datatypes this transport reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Datatype {
    Bool,
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
    F32,
    F64,
    Bytes,
}

impl Datatype {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "BOOL" => Self::Bool,
            "UINT8" => Self::U8,
            "UINT16" => Self::U16,
            "UINT32" => Self::U32,
            "UINT64" => Self::U64,
            "INT8" => Self::I8,
            "INT16" => Self::I16,
            "INT32" => Self::I32,
            "INT64" => Self::I64,
            "FP32" => Self::F32,
            "FP64" => Self::F64,
            "BYTES" => Self::Bytes,
            _ => return None,
        })
    }

    /// Bytes per element in the binary extension (`None`: variable, BYTES).
    fn size(self) -> Option<usize> {
        Some(match self {
            Self::Bool | Self::U8 | Self::I8 => 1,
            Self::U16 | Self::I16 => 2,
            Self::U32 | Self::I32 | Self::F32 => 4,
            Self::U64 | Self::I64 | Self::F64 => 8,
            Self::Bytes => return None,
        })
    }

    /// Whether elements are floating-point.
    pub(crate) fn is_float(self) -> bool {
        matches!(self, Self::F32 | Self::F64)
    }
}

/// Decoded elements of one tensor, flattened in row-major order.
#[derive(Debug)]
pub(crate) enum Values {
    Bool(Vec<bool>),
    Int(Vec<i64>),
    Float(Vec<f64>),
    Str(Vec<String>),
}

impl Values {
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Bool(v) => v.len(),
            Self::Int(v) => v.len(),
            Self::Float(v) => v.len(),
            Self::Str(v) => v.len(),
        }
    }

    /// Element `i` as a raw feature value (`i` below `len`).
    pub(crate) fn take(&mut self, i: usize) -> FeatureValue {
        match self {
            Self::Bool(v) => FeatureValue::Bool(v[i]),
            Self::Int(v) => FeatureValue::Int(v[i]),
            Self::Float(v) => FeatureValue::Float(v[i]),
            Self::Str(v) => FeatureValue::Str(std::mem::take(&mut v[i])),
        }
    }

    /// The elements as floats (numeric tensors only).
    pub(crate) fn into_f64(self) -> Option<Vec<f64>> {
        match self {
            Self::Float(v) => Some(v),
            _ => None,
        }
    }
}

/// The number of elements of a tensor of `shape`.
pub(crate) fn element_count(shape: &[i64]) -> Result<usize, String> {
    shape.iter().try_fold(1usize, |n, &d| {
        let d = usize::try_from(d).map_err(|_| format!("invalid dimension {d} in shape"))?;
        n.checked_mul(d)
            .ok_or_else(|| "shape has too many elements".to_owned())
    })
}

/// Splits a body into its JSON header and binary part, given the value of
/// the `Inference-Header-Content-Length` header (absent: all JSON).
pub(crate) fn split_body(
    body: Bytes,
    header_length: Option<&HeaderValue>,
) -> Result<(Bytes, Bytes), String> {
    let Some(value) = header_length else {
        return Ok((body, Bytes::new()));
    };
    let n: usize = value
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| "Inference-Header-Content-Length is not a number".to_owned())?;
    if n > body.len() {
        return Err(format!(
            "Inference-Header-Content-Length is {n}, but the body has {} bytes",
            body.len()
        ));
    }
    let mut json = body;
    let binary = json.split_off(n);
    Ok((json, binary))
}

/// Decodes `count` elements of `datatype` from raw binary data.
pub(crate) fn decode_binary(
    datatype: Datatype,
    bytes: &[u8],
    count: usize,
) -> Result<Values, String> {
    let Some(size) = datatype.size() else {
        return decode_bytes_elements(bytes, count).map(Values::Str);
    };
    let expected = count
        .checked_mul(size)
        .ok_or_else(|| "shape has too many elements".to_owned())?;
    if bytes.len() != expected {
        return Err(format!(
            "binary data has {} bytes, the shape needs {expected}",
            bytes.len()
        ));
    }
    fn read<const N: usize, T>(bytes: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
        bytes
            .chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                f(a)
            })
            .collect()
    }
    Ok(match datatype {
        Datatype::Bool => Values::Bool(
            bytes
                .iter()
                .map(|&b| match b {
                    0 => Ok(false),
                    1 => Ok(true),
                    _ => Err(format!("BOOL element is byte {b}, not 0 or 1")),
                })
                .collect::<Result<_, _>>()?,
        ),
        Datatype::U8 => Values::Int(bytes.iter().map(|&b| i64::from(b)).collect()),
        Datatype::I8 => Values::Int(read(bytes, |a: [u8; 1]| i64::from(i8::from_le_bytes(a)))),
        Datatype::U16 => Values::Int(read(bytes, |a| i64::from(u16::from_le_bytes(a)))),
        Datatype::I16 => Values::Int(read(bytes, |a| i64::from(i16::from_le_bytes(a)))),
        Datatype::U32 => Values::Int(read(bytes, |a| i64::from(u32::from_le_bytes(a)))),
        Datatype::I32 => Values::Int(read(bytes, |a| i64::from(i32::from_le_bytes(a)))),
        Datatype::I64 => Values::Int(read(bytes, i64::from_le_bytes)),
        Datatype::U64 => Values::Int(
            read(bytes, u64::from_le_bytes)
                .into_iter()
                .map(|v| i64::try_from(v).map_err(|_| format!("UINT64 element {v} is too large")))
                .collect::<Result<_, _>>()?,
        ),
        Datatype::F32 => Values::Float(read(bytes, |a| f64::from(f32::from_le_bytes(a)))),
        Datatype::F64 => Values::Float(read(bytes, f64::from_le_bytes)),
        Datatype::Bytes => unreachable!("handled above"),
    })
}

/// Decodes exactly `count` BYTES elements (4-byte length + bytes each) that
/// fill `bytes` exactly; elements must be UTF-8.
fn decode_bytes_elements(mut bytes: &[u8], count: usize) -> Result<Vec<String>, String> {
    // Each element takes at least 4 bytes: a larger count cannot fit.
    if count > bytes.len() / 4 {
        return Err(format!(
            "binary data has {} bytes, too few for {count} BYTES elements",
            bytes.len()
        ));
    }
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let Some((len, rest)) = bytes.split_first_chunk::<4>() else {
            return Err(format!("BYTES element {i} has no length prefix"));
        };
        let len = u32::from_le_bytes(*len) as usize;
        if len > rest.len() {
            return Err(format!(
                "BYTES element {i} claims {len} bytes, {} remain",
                rest.len()
            ));
        }
        let (item, rest) = rest.split_at(len);
        let s = std::str::from_utf8(item)
            .map_err(|_| format!("BYTES element {i} is not UTF-8 text"))?;
        out.push(s.to_owned());
        bytes = rest;
    }
    if !bytes.is_empty() {
        return Err(format!(
            "{} bytes left after {count} BYTES elements",
            bytes.len()
        ));
    }
    Ok(out)
}

/// Appends BYTES elements in the binary encoding.
pub(crate) fn encode_bytes_elements<'a>(items: impl Iterator<Item = &'a str>, out: &mut Vec<u8>) {
    for s in items {
        // Labels are short; a label over 4 GiB cannot exist in memory here.
        let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&s.as_bytes()[..len as usize]);
    }
}

/// Appends FP64 elements in the binary encoding.
pub(crate) fn encode_f64(values: impl Iterator<Item = f64>, out: &mut Vec<u8>) {
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// Decodes `count` elements of `datatype` from a JSON `data` value (flat or
/// nested arrays, row-major).
pub(crate) fn decode_json(
    datatype: Datatype,
    data: &Value,
    count: usize,
) -> Result<Values, String> {
    let mut flat = Vec::new();
    flatten(data, &mut flat, count)?;
    if flat.len() != count {
        return Err(format!(
            "data has {} elements, the shape needs {count}",
            flat.len()
        ));
    }
    let bad = |i: usize, what: &str| format!("data element {i} is not {what}");
    Ok(match datatype {
        Datatype::Bytes => Values::Str(
            flat.iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| bad(i, "a string"))
                })
                .collect::<Result<_, _>>()?,
        ),
        Datatype::Bool => Values::Bool(
            flat.iter()
                .enumerate()
                .map(|(i, v)| v.as_bool().ok_or_else(|| bad(i, "a boolean")))
                .collect::<Result<_, _>>()?,
        ),
        Datatype::F32 | Datatype::F64 => Values::Float(
            flat.iter()
                .enumerate()
                .map(|(i, v)| v.as_f64().ok_or_else(|| bad(i, "a number")))
                .collect::<Result<_, _>>()?,
        ),
        _ => Values::Int(
            flat.iter()
                .enumerate()
                .map(|(i, v)| v.as_i64().ok_or_else(|| bad(i, "an integer in range")))
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// Flattens nested arrays; stops as soon as more than `limit` elements are
/// seen. (serde_json bounds the nesting depth at parse time.)
fn flatten<'a>(v: &'a Value, out: &mut Vec<&'a Value>, limit: usize) -> Result<(), String> {
    match v {
        Value::Array(items) => {
            for item in items {
                flatten(item, out, limit)?;
            }
            Ok(())
        }
        other => {
            if out.len() >= limit {
                return Err(format!("data has more elements than the shape's {limit}"));
            }
            out.push(other);
            Ok(())
        }
    }
}

/// Counts the values of a JSON text without parsing it (every `[`, `{` and
/// `,` outside strings starts at most one value) and refuses it with 413 once
/// there are more than `budget`: a parsed value costs tens of bytes, so a
/// body of tiny values would otherwise grow many times its size in memory
/// before any row limit could be checked. Allocates nothing; malformed
/// JSON is left for the parser to report.
pub(crate) fn check_json_values(bytes: &[u8], budget: usize) -> Result<(), Rejection> {
    let mut values = 1usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' | b',' => {
                values += 1;
                if values > budget {
                    return Err(Rejection::TooManyValues { limit: budget });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_are_checked() {
        assert_eq!(element_count(&[3, 2]), Ok(6));
        assert_eq!(element_count(&[]), Ok(1));
        assert!(element_count(&[-1]).is_err());
        assert!(element_count(&[i64::MAX, i64::MAX]).is_err());
    }

    #[test]
    fn bytes_round_trip_and_bogus_lengths() {
        let mut buf = Vec::new();
        encode_bytes_elements(["buy", "", "ignoré"].into_iter(), &mut buf);
        match decode_binary(Datatype::Bytes, &buf, 3).unwrap() {
            Values::Str(v) => assert_eq!(v, ["buy", "", "ignoré"]),
            other => panic!("{other:?}"),
        }
        assert!(decode_binary(Datatype::Bytes, &buf, 4).is_err());
        assert!(decode_binary(Datatype::Bytes, &buf, 2).is_err());
        let mut bogus = u32::MAX.to_le_bytes().to_vec();
        bogus.extend_from_slice(b"abc");
        assert!(decode_binary(Datatype::Bytes, &bogus, 1).is_err());
        assert!(decode_binary(Datatype::Bytes, &[1, 0], 1).is_err());
        assert!(decode_binary(Datatype::Bytes, &[], usize::MAX).is_err());
    }

    #[test]
    fn fixed_size_types() {
        let mut buf = Vec::new();
        encode_f64([1.5, -2.0].into_iter(), &mut buf);
        match decode_binary(Datatype::F64, &buf, 2).unwrap() {
            Values::Float(v) => assert_eq!(v, [1.5, -2.0]),
            other => panic!("{other:?}"),
        }
        assert!(decode_binary(Datatype::F64, &buf, 3).is_err());
        assert!(decode_binary(Datatype::F64, &buf, usize::MAX).is_err());
        assert!(matches!(
            decode_binary(Datatype::I32, &(-7i32).to_le_bytes(), 1),
            Ok(Values::Int(v)) if v == [-7]
        ));
        assert!(decode_binary(Datatype::Bool, &[2], 1).is_err());
        assert!(decode_binary(Datatype::U64, &u64::MAX.to_le_bytes(), 1).is_err());
    }

    #[test]
    fn json_data_flat_or_nested() {
        let v = decode_json(Datatype::F64, &json!([[1, 2.5], [3, 4]]), 4).unwrap();
        assert_eq!(v.len(), 4);
        assert!(decode_json(Datatype::F64, &json!([1, 2, 3]), 2).is_err());
        assert!(decode_json(Datatype::I64, &json!([1.5]), 1).is_err());
        assert!(decode_json(Datatype::Bytes, &json!([1]), 1).is_err());
        assert!(decode_json(Datatype::Bool, &json!(true), 1).is_ok());
    }

    #[test]
    fn split_checks_the_header() {
        let body = Bytes::from_static(b"{}abc");
        let (j, b) = split_body(body.clone(), Some(&HeaderValue::from_static("2"))).unwrap();
        assert_eq!((&j[..], &b[..]), (&b"{}"[..], &b"abc"[..]));
        assert!(split_body(body.clone(), Some(&HeaderValue::from_static("99"))).is_err());
        assert!(split_body(body.clone(), Some(&HeaderValue::from_static("-1"))).is_err());
        assert!(split_body(body, Some(&HeaderValue::from_static("x"))).is_err());
    }

    #[test]
    fn json_values_are_counted_outside_strings_only() {
        assert!(check_json_values(br#"{"a": [1, 2, 3]}"#, 5).is_ok());
        assert!(check_json_values(br#"{"a": [1, 2, 3, 4]}"#, 5).is_err());
        // Brackets and commas inside strings, escaped quotes included.
        assert!(check_json_values(br#"["[,{,\",[,", 1]"#, 3).is_ok());
        assert!(check_json_values(&b"[1],".repeat(1_000_000), 10_000).is_err());
    }
}
