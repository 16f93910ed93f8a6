//! ECDSA signatures as WebAuthn authenticators send them (ASN.1 DER `SEQUENCE { r INTEGER,
//! s INTEGER }`, X9.62) turned into what WebCrypto verifies (`r || s`, fixed width). Only this
//! one structure is read, strictly: definite short lengths, minimal positive integers, nothing
//! after the sequence.

/// `r || s` of a P-256 signature (32 bytes each) from its DER form; `None` if it is not exactly
/// one well-formed DER signature with both integers in 1..2^256.
pub fn p256_raw(der: &[u8]) -> Option<[u8; 64]> {
    let (&tag, rest) = der.split_first()?;
    let (&len, body) = rest.split_first()?;
    // A P-256 signature's sequence is at most 2 × 35 bytes: always a short-form length.
    if tag != 0x30 || len >= 0x80 || body.len() != usize::from(len) {
        return None;
    }
    let (r, body) = integer(body)?;
    let (s, body) = integer(body)?;
    if !body.is_empty() {
        return None;
    }
    let mut raw = [0u8; 64];
    raw[32 - r.len()..32].copy_from_slice(r);
    raw[64 - s.len()..].copy_from_slice(s);
    Some(raw)
}

/// One minimal, positive, non-zero DER INTEGER of at most 32 value bytes (its leading zero
/// removed), and what follows it.
fn integer(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&len, rest) = rest.split_first()?;
    let len = usize::from(len);
    if tag != 0x02 || len == 0 || len >= 0x80 || rest.len() < len {
        return None;
    }
    let (value, rest) = rest.split_at(len);
    let value = match value {
        // A leading zero only where the next byte has its top bit set (else not minimal).
        [0, next, ..] if next & 0x80 != 0 => &value[1..],
        [0, ..] => return None,
        // Negative.
        [first, ..] if first & 0x80 != 0 => return None,
        _ => value,
    };
    (value.len() <= 32).then_some((value, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der(r: &[u8], s: &[u8]) -> Vec<u8> {
        let mut out = vec![0x30, (4 + r.len() + s.len()) as u8, 0x02, r.len() as u8];
        out.extend_from_slice(r);
        out.extend_from_slice(&[0x02, s.len() as u8]);
        out.extend_from_slice(s);
        out
    }

    #[test]
    fn integers_are_right_aligned_and_lose_their_sign_byte() {
        let mut r = vec![0x00];
        r.extend_from_slice(&[0xff; 32]);
        let raw = p256_raw(&der(&r, &[0x01])).expect("valid");
        assert_eq!(&raw[..32], &[0xff; 32]);
        assert_eq!(&raw[32..63], &[0u8; 31]);
        assert_eq!(raw[63], 1);
    }

    #[test]
    fn anything_but_one_minimal_signature_is_refused() {
        let ok = der(&[0x01; 32], &[0x02; 32]);
        assert!(p256_raw(&ok).is_some());
        let mut trailing = ok.clone();
        trailing.push(0);
        assert_eq!(p256_raw(&trailing), None, "bytes after the sequence");
        let mut longer = ok.clone();
        longer[1] += 1;
        assert_eq!(p256_raw(&longer), None, "length that does not fit");
        assert_eq!(
            p256_raw(&der(&[0x00, 0x01], &[1])),
            None,
            "non-minimal zero"
        );
        assert_eq!(p256_raw(&der(&[0x80], &[1])), None, "negative");
        assert_eq!(p256_raw(&der(&[], &[1])), None, "empty integer");
        assert_eq!(p256_raw(&der(&[0x01; 33], &[1])), None, "wider than P-256");
        let mut wrong_tag = ok.clone();
        wrong_tag[0] = 0x31;
        assert_eq!(p256_raw(&wrong_tag), None);
        assert_eq!(p256_raw(&[0x30, 0x81, 0x00]), None, "long-form length");
        assert_eq!(p256_raw(&[]), None);
    }
}
