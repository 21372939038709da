//! Small, bounded helpers to write and read flat payloads.
//!
//! Every kind encodes its model as a flat sequence of little-endian numbers,
//! counts and short strings. [`PayloadReader`] checks each count against the
//! bytes that remain *before* allocating, so no length prefix can make a
//! decoder allocate more than the payload's own size, and nothing recurses.

use super::ArtifactError;

/// Builds a flat payload.
///
/// # Examples
///
/// ```
/// use modelhost::artifact::{PayloadReader, PayloadWriter};
///
/// let mut w = PayloadWriter::new();
/// w.u32(3);
/// w.f64s(&[0.5, 1.5]);
/// let bytes = w.into_bytes();
///
/// let mut r = PayloadReader::new(&bytes);
/// assert_eq!(r.u32()?, 3);
/// assert_eq!(r.f64s()?, vec![0.5, 1.5]);
/// r.finish()?;
/// # Ok::<(), modelhost::artifact::ArtifactError>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct PayloadWriter {
    bytes: Vec<u8>,
}

impl PayloadWriter {
    /// An empty payload.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a byte.
    pub fn u8(&mut self, v: u8) {
        self.bytes.push(v);
    }

    /// Appends a `u32`, little-endian.
    pub fn u32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }

    /// Appends a `u64`, little-endian.
    pub fn u64(&mut self, v: u64) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }

    /// Appends an `f64`, little-endian IEEE 754.
    pub fn f64(&mut self, v: f64) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }

    /// Appends a count (as a `u64`).
    pub fn count(&mut self, n: usize) {
        self.u64(n as u64);
    }

    /// Appends a count and then the values.
    pub fn f64s(&mut self, values: &[f64]) {
        self.count(values.len());
        for &v in values {
            self.f64(v);
        }
    }

    /// Appends a UTF-8 string with its byte length.
    pub fn str(&mut self, s: &str) {
        self.count(s.len());
        self.bytes.extend_from_slice(s.as_bytes());
    }

    /// The payload.
    #[must_use]
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// Reads a flat payload written by [`PayloadWriter`], refusing truncation,
/// counts larger than what remains, and trailing bytes.
///
/// Every error is [`ArtifactError::Payload`] with the offset where reading
/// failed.
#[derive(Debug, Clone)]
pub struct PayloadReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

type Result<T> = std::result::Result<T, ArtifactError>;

impl<'a> PayloadReader<'a> {
    /// Reads `bytes` from the start.
    #[must_use]
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    /// Bytes not yet read.
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    /// An [`ArtifactError::Payload`] at the current offset.
    #[must_use]
    pub fn error(&self, what: &str) -> ArtifactError {
        ArtifactError::Payload {
            reason: format!("at byte {}: {what}", self.at),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.error("truncated"));
        }
        let s = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    /// Reads a byte.
    ///
    /// # Errors
    ///
    /// When the payload ends.
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    /// Reads a `u32`.
    ///
    /// # Errors
    ///
    /// When the payload ends.
    pub fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads a `u64`.
    ///
    /// # Errors
    ///
    /// When the payload ends.
    pub fn u64(&mut self) -> Result<u64> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }

    /// Reads an `f64`.
    ///
    /// # Errors
    ///
    /// When the payload ends.
    pub fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_bits(self.u64()?))
    }

    /// Reads a finite `f64`.
    ///
    /// # Errors
    ///
    /// When the payload ends or the value is NaN or infinite.
    pub fn finite_f64(&mut self) -> Result<f64> {
        let v = self.f64()?;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(self.error("a value is not finite"))
        }
    }

    /// Reads a count of items that take at least `min_item_bytes` each, and
    /// checks that many items can still follow.
    ///
    /// # Errors
    ///
    /// When the payload ends or the count claims more than remains.
    pub fn count(&mut self, min_item_bytes: usize) -> Result<usize> {
        let n = self.u64()?;
        let fits = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_mul(min_item_bytes.max(1)).map(|b| (n, b)))
            .filter(|&(_, b)| b <= self.remaining());
        match fits {
            Some((n, _)) => Ok(n),
            None => Err(self.error(&format!(
                "a count of {n} is more than the remaining {} bytes can hold",
                self.remaining()
            ))),
        }
    }

    /// Reads a count and that many `f64`s.
    ///
    /// # Errors
    ///
    /// As [`count`](Self::count).
    pub fn f64s(&mut self) -> Result<Vec<f64>> {
        let n = self.count(8)?;
        (0..n).map(|_| self.f64()).collect()
    }

    /// Reads a UTF-8 string of at most `max` bytes.
    ///
    /// # Errors
    ///
    /// When the payload ends, the string is longer than `max` or not UTF-8.
    pub fn str(&mut self, max: usize) -> Result<&'a str> {
        let n = self.count(1)?;
        if n > max {
            return Err(self.error(&format!("a string of {n} bytes is over {max}")));
        }
        let b = self.take(n)?;
        std::str::from_utf8(b).map_err(|_| self.error("a string is not UTF-8"))
    }

    /// Checks every byte was read.
    ///
    /// # Errors
    ///
    /// When bytes remain.
    pub fn finish(self) -> Result<()> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(self.error(&format!(
                "{} trailing bytes after the payload",
                self.remaining()
            )))
        }
    }
}
