//! What the fuzz targets share: one input split into the several fields a parser is given, so
//! that a seed file can hold, say, a `Content-Type` and a body, or a header and a payload.

/// The byte that separates fields in a seed (absent from every text format the targets read).
pub const SEPARATOR: u8 = 0;

/// The first `N` fields of `data` split at [`SEPARATOR`]; fields past the end are empty and the
/// last one takes the rest, separators included.
pub fn fields<const N: usize>(data: &[u8]) -> [&[u8]; N] {
    let mut out = [&data[..0]; N];
    let mut rest = data;
    for (i, slot) in out.iter_mut().enumerate() {
        if i + 1 == N {
            *slot = rest;
            break;
        }
        match rest.iter().position(|&b| b == SEPARATOR) {
            Some(at) => {
                *slot = &rest[..at];
                rest = &rest[at + 1..];
            }
            None => {
                *slot = rest;
                rest = &rest[rest.len()..];
            }
        }
    }
    out
}

/// `bytes` as text, or `None` when it is not UTF-8 (the callers' parsers take `&str`).
pub fn text(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

/// `bytes` as text with invalid UTF-8 replaced, for parsers that take `&str` from a source that
/// is already text (header values, Worker vars).
pub fn lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}
