//! Photos for the biometrics upload: JPEG only, at most 1 MB, sent as a base64 data URI.

use std::{fmt, path::Path};

use base64::Engine;

use crate::{Error, Result};

/// Largest photo the API accepts: the page's "1MB", read as 1 MiB (1,048,576 bytes).
pub const MAX_PHOTO_BYTES: usize = 1024 * 1024;

/// Prefix of the data URI the API expects.
const DATA_URI_PREFIX: &str = "data:image/jpeg;base64,";

/// A validated JPEG photo. Its bytes never appear in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Photo {
    bytes: Vec<u8>,
}

impl Photo {
    /// Checks `bytes` (non-empty, JPEG magic `FF D8 FF`, at most [`MAX_PHOTO_BYTES`]).
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Result<Self> {
        Self::checked("photo", bytes.into())
    }

    /// Reads and checks a photo file; errors name the file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let field = format!("photo file {}", path.display());
        let len = std::fs::metadata(path)
            .map_err(|e| Error::invalid_input(&field, format!("cannot read: {e}")))?
            .len();
        if len > MAX_PHOTO_BYTES as u64 {
            return Err(too_large(&field, len));
        }
        let bytes = std::fs::read(path)
            .map_err(|e| Error::invalid_input(&field, format!("cannot read: {e}")))?;
        Self::checked(&field, bytes)
    }

    fn checked(field: &str, bytes: Vec<u8>) -> Result<Self> {
        check_jpeg(field, &bytes)?;
        Ok(Photo { bytes })
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always false: an empty photo is refused at construction.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The JPEG bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// `data:image/jpeg;base64,...`, as the upload call expects.
    pub fn to_data_uri(&self) -> String {
        let engine = base64::engine::general_purpose::STANDARD;
        let mut uri =
            String::with_capacity(DATA_URI_PREFIX.len() + self.bytes.len().div_ceil(3) * 4);
        uri.push_str(DATA_URI_PREFIX);
        engine.encode_string(&self.bytes, &mut uri);
        uri
    }
}

/// The one rule for photos, whether they come as bytes ([`Photo`]) or as a data URI
/// ([`crate::redacted::PhotoDataUri`]): non-empty, JPEG magic `FF D8 FF`, at most
/// [`MAX_PHOTO_BYTES`].
pub(crate) fn check_jpeg(field: &str, bytes: &[u8]) -> Result<()> {
    if bytes.is_empty() {
        return Err(Error::invalid_input(field, "is empty"));
    }
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err(too_large(field, bytes.len() as u64));
    }
    if !bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Err(Error::invalid_input(
            field,
            "is not a JPEG (the API accepts JPG/JPEG only)",
        ));
    }
    Ok(())
}

fn too_large(field: &str, len: u64) -> Error {
    Error::invalid_input(
        field,
        format!("is {len} bytes; the API accepts at most {MAX_PHOTO_BYTES} bytes (1 MB)"),
    )
}

impl fmt::Debug for Photo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Photo(<{} bytes of JPEG>)", self.bytes.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F'];

    #[test]
    fn accepts_jpeg_up_to_the_limit_and_encodes_a_data_uri() {
        let p = Photo::from_bytes(JPEG).unwrap();
        assert_eq!(p.to_data_uri(), "data:image/jpeg;base64,/9j/4AAQSkZJRg==");
        let mut max = JPEG.to_vec();
        max.resize(MAX_PHOTO_BYTES, 0);
        assert_eq!(Photo::from_bytes(max).unwrap().len(), MAX_PHOTO_BYTES);
    }

    #[test]
    fn refuses_empty_non_jpeg_and_oversized() {
        let e = Photo::from_bytes(Vec::new()).unwrap_err().to_string();
        assert_eq!(e, "invalid input: photo: is empty");
        let png = b"\x89PNG\r\n\x1a\n".to_vec();
        assert!(Photo::from_bytes(png)
            .unwrap_err()
            .to_string()
            .contains("not a JPEG"));
        let mut big = JPEG.to_vec();
        big.resize(MAX_PHOTO_BYTES + 1, 0);
        let e = Photo::from_bytes(big).unwrap_err().to_string();
        assert!(e.contains("1048577 bytes"), "{e}");
    }

    #[test]
    fn debug_hides_the_bytes() {
        let p = Photo::from_bytes(JPEG).unwrap();
        assert_eq!(format!("{p:?}"), "Photo(<10 bytes of JPEG>)");
    }
}
