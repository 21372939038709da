//! The payload codec: bincode 2 (serde path), always with a decode limit.
//!
//! bincode 2.0.1 is flagged unmaintained by RUSTSEC-2025-0141 (no known
//! vulnerability; 3.0.0 is an empty tombstone release). Every use of it in the
//! crate goes through the two functions below, so it can be replaced by
//! another codec in one place. The payload types are flat (no recursion), so
//! decoding never grows the stack with the input, and the limit caps what a
//! length prefix can make the decoder allocate.

use serde::de::DeserializeOwned;

/// The largest payload the decoder will account for: 256 MiB. A length
/// prefix that claims more fails before anything is allocated.
pub(crate) const DECODE_LIMIT: usize = 256 << 20;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

/// Decodes a `T` that must span all of `bytes`.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let (value, used) =
        bincode::serde::decode_from_slice(bytes, config()).map_err(|e| e.to_string())?;
    if used != bytes.len() {
        return Err(format!(
            "{} trailing bytes after the payload",
            bytes.len() - used
        ));
    }
    Ok(value)
}
