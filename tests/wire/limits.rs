//! Sizes claimed by the input are checked against limits before anything is allocated:
//! an LZ4 "bomb" (a payload claiming 255× its size uncompressed) is refused, by the
//! received-message path and by the file decoder alike, with a typed error and without
//! allocating what it claims.

use spate::wire::{
    DecodeErrorKind, DecodeLimits, EncodedMessage, MessageKind, decode_rrd, decode_rrd_with,
};

fn lz4_bomb(payload_len: usize) -> Vec<u8> {
    crate::clients::lz4_bomb(payload_len, 255 * payload_len as u64)
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut file = b"RRF2\x00\x29\x00\x00\x01\x02\x00\x00".to_vec();
    file.extend_from_slice(&2u64.to_le_bytes());
    file.extend_from_slice(&(body.len() as u64).to_le_bytes());
    file.extend_from_slice(body);
    file
}

const MB100: usize = 100 << 20;

/// The reproduced crash: a 100 MB payload claiming 25.5 GB aborted the process
/// ("memory allocation of 26738688000 bytes failed").
#[test]
fn a_100_mb_lz4_bomb_is_refused_by_from_received() {
    let body = lz4_bomb(MB100);
    let claimed = 255 * MB100 as u64;
    assert_eq!(
        EncodedMessage::claimed_decompressed_bytes(MessageKind::ArrowMsg, &body.clone().into()),
        claimed
    );
    let e =
        EncodedMessage::from_received(MessageKind::ArrowMsg, body.into(), &DecodeLimits::default())
            .expect_err("a bomb must be refused");
    assert!(
        matches!(
            e.kind,
            DecodeErrorKind::UncompressedOverLimit { claimed: c, limit } if c == claimed && limit == 1 << 30
        ),
        "{e:?}"
    );
}

#[test]
fn a_100_mb_lz4_bomb_is_refused_by_decode_rrd() {
    let e = decode_rrd(framed(&lz4_bomb(MB100))).expect_err("a bomb must be refused");
    assert_eq!(e.offset, 28);
    assert!(
        matches!(e.kind, DecodeErrorKind::UncompressedOverLimit { .. }),
        "{e:?}"
    );
    assert_eq!(
        spate::ErrorChain(&e).to_string(),
        format!(
            "at byte 28: LZ4 payload claims {} bytes uncompressed, over the limit of {}",
            255 * MB100 as u64,
            1u64 << 30
        )
    );
}

#[test]
fn a_claim_within_the_limits_is_allocated_and_then_found_false() {
    // 4 KiB of zeros is not an LZ4 block of 1 MiB: the claim is within the limit, so the
    // buffer is allocated, and decompression tells the lie.
    let file = framed(&lz4_bomb(4096));
    let limits = DecodeLimits::default().max_uncompressed_bytes(2 << 20);
    let e = decode_rrd_with(file.clone(), &limits).expect_err("not a chunk");
    assert!(
        matches!(
            e.kind,
            DecodeErrorKind::Lz4(_) | DecodeErrorKind::UncompressedSize { .. }
        ),
        "{e:?}"
    );
    // One byte under the claim: refused unallocated.
    let limits = DecodeLimits::default().max_uncompressed_bytes(255 * 4096 - 1);
    let e = decode_rrd_with(file, &limits).expect_err("over the limit");
    assert!(
        matches!(e.kind, DecodeErrorKind::UncompressedOverLimit { .. }),
        "{e:?}"
    );
}
