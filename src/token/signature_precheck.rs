//! The strict Ed25519 checks a generic verifier (WebCrypto, BoringSSL) may not make, done on the
//! signature bytes alone before the signature equation is checked elsewhere.
//!
//! Together with a key validated at load ([`crate::token::keys::VerifyingKey::from_bytes`]) and a
//! cofactorless check of the equation, these give exactly `verify_strict`'s verdicts (pinned by
//! the Wycheproof, CCTV and expect-fail vectors in `tests/signature_precheck.rs`). No point is
//! decompressed: like libsodium, R is compared byte-wise against the known encodings.

use crate::token::error::Error;

/// L, the order of the Ed25519 prime-order subgroup, little-endian.
const ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// The y-coordinates (little-endian, sign bit cleared) of every point of order 1, 2, 4 or 8,
/// including the non-canonical encodings y = p and y = p + 1 (of 0 and 1). With the sign bit
/// ignored this covers all 14 encodings of the 8 small-order points (libsodium's block list).
pub const SMALL_ORDER_Y: [[u8; 32]; 7] = [
    // y = 0: order 4.
    [0; 32],
    // y = 1: the identity.
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,
    ],
    // Order 8.
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    // Order 8.
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    // y = p - 1: order 2.
    high_y(0xec),
    // y = p (non-canonical 0).
    high_y(0xed),
    // y = p + 1 (non-canonical 1).
    high_y(0xee),
];

/// `low, 0xff × 30, 0x7f`: the y-coordinates just below and above p = 2^255 - 19.
const fn high_y(low: u8) -> [u8; 32] {
    let mut y = [0xff; 32];
    y[0] = low;
    y[31] = 0x7f;
    y
}

/// Checks what `verify_strict` checks beyond the signature equation: S is reduced (S < L), and R
/// is a canonical encoding (y < p) of a point that is not of small order. Refusals are
/// [`Error::BadSignature`], as from `verify_strict`.
pub fn precheck(signature: &[u8; 64]) -> Result<(), Error> {
    let (r, s) = signature.split_at(32);
    if !less_than_le(s, &ORDER) || !r_is_canonical(r) || r_has_small_order(r) {
        return Err(Error::BadSignature);
    }
    Ok(())
}

/// Whether the little-endian numbers `a < b` (equal lengths).
fn less_than_le(a: &[u8], b: &[u8]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// Whether R's y-coordinate (sign bit cleared) is below p = 2^255 - 19. An encoding of x = 0
/// with the sign bit set is also non-canonical; its points (y = 1, y = p - 1) are of small order
/// and refused by [`r_has_small_order`].
pub(crate) fn r_is_canonical(r: &[u8]) -> bool {
    let mut y = [0u8; 32];
    y.copy_from_slice(r);
    y[31] &= 0x7f;
    less_than_le(&y, &high_y(0xed))
}

pub(crate) fn r_has_small_order(r: &[u8]) -> bool {
    SMALL_ORDER_Y.iter().any(|small| {
        small[..31] == r[..31] && small[31] == r[31] & 0x7f // sign bit ignored
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signature(r: [u8; 32], s: [u8; 32]) -> [u8; 64] {
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r);
        sig[32..].copy_from_slice(&s);
        sig
    }

    /// Some valid-looking R: the base point's encoding (y = 4/5).
    const BASE_Y: [u8; 32] = [
        0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
        0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
        0x66, 0x66,
    ];

    #[test]
    fn s_must_be_below_the_group_order() {
        let mut below = ORDER;
        below[0] -= 1;
        assert!(precheck(&signature(BASE_Y, below)).is_ok());
        assert!(precheck(&signature(BASE_Y, [0; 32])).is_ok());
        assert_eq!(
            precheck(&signature(BASE_Y, ORDER)),
            Err(Error::BadSignature)
        );
        let mut above = ORDER;
        above[31] = 0x11;
        assert!(precheck(&signature(BASE_Y, above)).is_err());
        assert!(precheck(&signature(BASE_Y, [0xff; 32])).is_err());
    }

    #[test]
    fn r_must_be_canonical_and_not_of_small_order() {
        let s = [0u8; 32];
        for small in SMALL_ORDER_Y {
            let mut negative = small;
            negative[31] |= 0x80;
            assert!(precheck(&signature(small, s)).is_err());
            assert!(precheck(&signature(negative, s)).is_err());
        }
        // y = p + 2 … 2^255 - 1 are non-canonical, with either sign.
        for low in 0xef..=0xff {
            let y = high_y(low);
            let mut negative = y;
            negative[31] |= 0x80;
            assert!(precheck(&signature(y, s)).is_err(), "{low:#x}");
            assert!(precheck(&signature(negative, s)).is_err(), "{low:#x}");
        }
        // p - 2 is canonical and not of small order (whether it is a point is not our check).
        assert!(precheck(&signature(high_y(0xeb), s)).is_ok());
        let mut negative_base = BASE_Y;
        negative_base[31] |= 0x80;
        assert!(precheck(&signature(negative_base, s)).is_ok());
    }
}
