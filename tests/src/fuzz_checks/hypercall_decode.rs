//! Arbitrary bytes as the registers of a hypercall, decoded for a partition with one
//! bitmap word (64 ports) and with 64 (4,096 ports).
//!
//! * decoding never panics, whatever the registers;
//! * every call that decodes is canonical: re-encoding it gives exactly the registers;
//! * every refusal maps to a status code, and every answer survives encode/decode.

use irq_router::hypercall::{
    CallNumber, ErrorCode, HypercallError, HypercallResult, RawCall, decode, decode_reply, encode,
    encode_request,
};

/// Five little-endian 64-bit registers (number, then the four arguments); missing bytes
/// are zero, so short inputs still reach the calls with reserved registers zero.
pub(crate) fn raw_call(data: &[u8]) -> RawCall {
    let mut words = [0u64; 5];
    for (word, chunk) in words.iter_mut().zip(data.chunks(8)) {
        let mut bytes = [0u8; 8];
        bytes[..chunk.len()].copy_from_slice(chunk);
        *word = u64::from_le_bytes(bytes);
    }
    let [number, a0, a1, a2, a3] = words;
    RawCall { number, args: [a0, a1, a2, a3] }
}

fn check<const W: usize>(raw: &RawCall) {
    let result: HypercallResult = match decode::<W>(raw) {
        Ok(request) => {
            assert_eq!(encode_request(&request), *raw, "not canonical: {request:?}");
            Ok(raw.number)
        }
        Err(error) => {
            if let HypercallError::UnknownCall { number } = error {
                assert!(CallNumber::from_raw(number).is_none());
            }
            Err(ErrorCode::from(error))
        }
    };
    assert_eq!(decode_reply(encode(result)), Some(result));
}

/// The `hypercall_decode` target: `data` as registers, decoded for `W` = 1 and 64.
pub fn hypercall_decode(data: &[u8]) {
    let raw = raw_call(data);
    check::<1>(&raw);
    check::<64>(&raw);
}
