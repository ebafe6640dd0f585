//! The hypercall ABI: every call decodes from its documented registers, decoding is
//! canonical and never panics, bad registers give typed errors, and the tables in
//! `docs/hypercalls.md` match the code.

use core::num::NonZeroU64;

use irq_router::hypercall::{
    ABI_VERSION, CONSOLE_WRITE_MAX, CallNumber, ErrorCode, HypercallError, HypercallResult,
    RawCall, Request, SUCCESS, UserSlice, decode, decode_reply, encode, encode_request,
    start_reason_from_value, start_reason_value,
};
use notify_core::Port;
use proptest::prelude::{Just, ProptestConfig, Strategy, any, prop_assert, prop_assert_eq};
use proptest::{prop_oneof, proptest};
use vcpu_state::StartReason;

/// The wide configuration: 64 words, 4,096 ports.
const WIDE: usize = 64;

fn call(number: u64, args: [u64; 4]) -> RawCall {
    RawCall { number, args }
}

fn port<const W: usize>(raw: u32) -> Port<W> {
    Port::new(raw).expect("port in range")
}

fn addr(raw: u64) -> Option<NonZeroU64> {
    NonZeroU64::new(raw)
}

/// Every call, from the registers `docs/hypercalls.md` gives it.
fn documented_calls() -> Vec<(RawCall, Request<WIDE>)> {
    vec![
        (call(0, [0; 4]), Request::AbiVersion),
        (call(1, [0x21, 7, 0, 0]), Request::RequestIrq { vector: 0x21, port: port(7) }),
        (call(2, [0xff, 0, 0, 0]), Request::DetachIrq { vector: 0xff }),
        (call(3, [0; 4]), Request::EnableIrqs),
        (call(4, [0; 4]), Request::DisableIrqs),
        (call(5, [0; 4]), Request::Flash),
        (call(6, [u64::from(u32::MAX), 0, 0, 0]), Request::SetIsrLevel { level: u32::MAX }),
        (call(7, [0; 4]), Request::Idle),
        (call(8, [0, 0, 0, 0]), Request::Acknowledge { port: port(0) }),
        (call(9, [4095, 0, 0, 0]), Request::TakeCount { port: port(4095) }),
        (call(10, [63, 0, 0, 0]), Request::Mask { port: port(63) }),
        (call(11, [64, 0, 0, 0]), Request::Unmask { port: port(64) }),
        (call(12, [3, 0, 0, 0]), Request::Notify { port: port(3) }),
        (call(13, [0; 4]), Request::ReadClock),
        (call(14, [0x40_1000, 0, 0, 0]), Request::RegisterUpcall { entry: addr(0x40_1000) }),
        (call(14, [0; 4]), Request::RegisterUpcall { entry: None }),
        (call(15, [0x40_2000, 0, 0, 0]), Request::RegisterFaultHandler { entry: addr(0x40_2000) }),
        (call(15, [0; 4]), Request::RegisterFaultHandler { entry: None }),
        (
            call(16, [9, 0x40_3000, 0, 0]),
            Request::RegisterPortHandler { port: port(9), entry: addr(0x40_3000) },
        ),
        (call(16, [9, 0, 0, 0]), Request::RegisterPortHandler { port: port(9), entry: None }),
        (
            call(17, [0x50_0000, 256, 0, 0]),
            Request::ConsoleWrite {
                buffer: UserSlice::new(0x50_0000, 256, CONSOLE_WRITE_MAX).expect("valid"),
            },
        ),
        (
            call(17, [0, 0, 0, 0]),
            Request::ConsoleWrite { buffer: UserSlice::new(0, 0, 256).expect("valid") },
        ),
        (call(18, [0xdead, 0, 0, 0]), Request::ExecStopError { code: 0xdead }),
        (call(19, [0; 4]), Request::StartReason),
        (call(20, [0; 4]), Request::UpcallReturn),
        (call(21, [0; 4]), Request::PingAnswer),
    ]
}

#[test]
fn every_call_decodes_from_its_documented_registers() {
    let calls = documented_calls();
    for (raw, expected) in &calls {
        assert_eq!(decode::<WIDE>(raw), Ok(*expected), "{raw:?}");
        assert_eq!(expected.number().raw(), raw.number);
    }
    for number in CallNumber::ALL {
        assert!(
            calls.iter().any(|(raw, _)| raw.number == number.raw()),
            "{number:?} has no documented-registers case"
        );
    }
}

#[test]
fn encode_request_gives_the_documented_registers() {
    for (raw, request) in documented_calls() {
        assert_eq!(encode_request(&request), raw, "{request:?}");
    }
}

#[test]
fn call_numbers_are_dense_and_stable() {
    for (n, number) in CallNumber::ALL.iter().enumerate() {
        assert_eq!(number.raw(), n as u64);
        assert_eq!(CallNumber::from_raw(n as u64), Some(*number));
        assert!(number.arg_count() <= 4);
    }
    assert_eq!(CallNumber::from_raw(CallNumber::COUNT as u64), None);
    assert_eq!(ABI_VERSION, 1);
    assert_eq!(CONSOLE_WRITE_MAX, 256);
}

#[test]
fn unknown_numbers_are_typed_errors() {
    for number in [22, 23, 0x100, 1 << 32, u64::MAX] {
        assert_eq!(
            decode::<1>(&call(number, [1, 2, 3, 4])),
            Err(HypercallError::UnknownCall { number })
        );
    }
}

#[test]
fn reserved_arguments_are_rejected() {
    for number in CallNumber::ALL {
        // A valid value for every argument the call reads: 1 is a port, a vector, a
        // level, an address and a length for every call.
        let mut args = [0u64; 4];
        for arg in args.iter_mut().take(number.arg_count()) {
            *arg = 1;
        }
        assert!(decode::<1>(&call(number.raw(), args)).is_ok(), "{number:?}");
        for index in number.arg_count()..4 {
            let mut bad = args;
            bad[index] = 1 << 40;
            assert_eq!(
                decode::<1>(&call(number.raw(), bad)),
                Err(HypercallError::ReservedArgument { index: index as u8 }),
                "{number:?} register {index}"
            );
        }
        // The lowest offending register is the one named.
        if number.arg_count() < 3 {
            let mut bad = args;
            bad[3] = 1;
            bad[number.arg_count()] = 1;
            assert_eq!(
                decode::<1>(&call(number.raw(), bad)),
                Err(HypercallError::ReservedArgument { index: number.arg_count() as u8 })
            );
        }
    }
}

#[test]
fn checks_run_in_the_documented_order() {
    // Unknown number before reserved arguments.
    assert_eq!(
        decode::<1>(&call(99, [0, 0, 0, 1])),
        Err(HypercallError::UnknownCall { number: 99 })
    );
    // Reserved arguments before argument values.
    assert_eq!(
        decode::<1>(&call(8, [1 << 40, 0, 5, 0])),
        Err(HypercallError::ReservedArgument { index: 2 })
    );
    // Arguments in register order: the vector (args[0]) before the port (args[1]).
    assert_eq!(
        decode::<1>(&call(1, [256, 1 << 40, 0, 0])),
        Err(HypercallError::VectorOutOfRange { raw: 256 })
    );
}

#[test]
fn out_of_range_ports_carry_the_raw_value() {
    let port_calls = [1u64, 8, 9, 10, 11, 12, 16];
    for number in port_calls {
        // The port is args[1] for request_irq and args[0] otherwise.
        let slot = usize::from(number == 1);
        for raw in [64, 65, 1 << 16, 1 << 32, (1 << 32) + 3, u64::MAX] {
            let mut args = [0; 4];
            args[slot] = raw;
            assert_eq!(
                decode::<1>(&call(number, args)),
                Err(HypercallError::PortOutOfRange { raw }),
                "call {number} port {raw}"
            );
        }
        let mut args = [0; 4];
        args[slot] = 63;
        assert!(decode::<1>(&call(number, args)).is_ok());
        args[slot] = 4095;
        assert!(decode::<WIDE>(&call(number, args)).is_ok());
        args[slot] = 4096;
        assert_eq!(
            decode::<WIDE>(&call(number, args)),
            Err(HypercallError::PortOutOfRange { raw: 4096 })
        );
    }
}

#[test]
fn out_of_range_vectors_are_typed_errors() {
    for raw in [256, 0x1_00ff, 1 << 32, u64::MAX] {
        assert_eq!(
            decode::<1>(&call(1, [raw, 0, 0, 0])),
            Err(HypercallError::VectorOutOfRange { raw })
        );
        assert_eq!(
            decode::<1>(&call(2, [raw, 0, 0, 0])),
            Err(HypercallError::VectorOutOfRange { raw })
        );
    }
    assert_eq!(decode::<1>(&call(2, [255, 0, 0, 0])), Ok(Request::DetachIrq { vector: 255 }));
}

#[test]
fn values_past_32_bits_are_typed_errors() {
    for (number, raw) in [(6, 1u64 << 32), (6, u64::MAX), (18, 1 << 32), (18, u64::MAX)] {
        assert_eq!(
            decode::<1>(&call(number, [raw, 0, 0, 0])),
            Err(HypercallError::ValueOutOfRange { index: 0, raw })
        );
    }
}

#[test]
fn oversize_console_writes_are_typed_errors() {
    for len in [257, 4096, 1 << 32, u64::MAX] {
        assert_eq!(
            decode::<1>(&call(17, [0x1000, len, 0, 0])),
            Err(HypercallError::LengthTooLarge { len, max: CONSOLE_WRITE_MAX })
        );
    }
}

#[test]
fn overflowing_buffers_are_typed_errors() {
    for (addr, len) in [(u64::MAX, 1), (u64::MAX - 255, 256), (u64::MAX - 9, 100)] {
        assert_eq!(
            decode::<1>(&call(17, [addr, len, 0, 0])),
            Err(HypercallError::AddressOverflow { addr, len })
        );
    }
    // Ending exactly at the top of the address space is fine, so is an empty buffer.
    let top = decode::<1>(&call(17, [u64::MAX - 256, 256, 0, 0]));
    let Ok(Request::ConsoleWrite { buffer }) = top else { panic!("{top:?}") };
    assert_eq!((buffer.addr(), buffer.len(), buffer.end()), (u64::MAX - 256, 256, u64::MAX));
    assert!(decode::<1>(&call(17, [u64::MAX, 0, 0, 0])).is_ok());
}

#[test]
fn decode_errors_map_to_status_codes() {
    let cases = [
        (HypercallError::UnknownCall { number: 99 }, ErrorCode::UnknownCall),
        (HypercallError::ReservedArgument { index: 3 }, ErrorCode::ReservedArgument),
        (HypercallError::PortOutOfRange { raw: 64 }, ErrorCode::InvalidArgument),
        (HypercallError::VectorOutOfRange { raw: 256 }, ErrorCode::InvalidArgument),
        (HypercallError::ValueOutOfRange { index: 0, raw: 1 << 32 }, ErrorCode::InvalidArgument),
        (HypercallError::LengthTooLarge { len: 257, max: 256 }, ErrorCode::BadAddress),
        (HypercallError::AddressOverflow { addr: u64::MAX, len: 1 }, ErrorCode::BadAddress),
    ];
    for (error, code) in cases {
        assert_eq!(ErrorCode::from(error), code, "{error}");
    }
}

#[test]
fn notify_core_errors_map_to_status_codes() {
    use notify_core::Error;
    let cases = [
        (Error::PortOutOfRange { raw: 64 }, ErrorCode::InvalidArgument),
        (Error::PartitionOutOfRange { raw: 9 }, ErrorCode::InvalidArgument),
        (Error::ChannelOutOfRange { raw: 9 }, ErrorCode::InvalidArgument),
        (Error::NotBound { port: 1 }, ErrorCode::NotBound),
        (Error::AlreadyBound { port: 1 }, ErrorCode::AlreadyBound),
        (Error::NotInService { port: 1 }, ErrorCode::NotInService),
        (Error::NothingPending { port: 1 }, ErrorCode::NothingPending),
        (Error::Masked { port: 1 }, ErrorCode::Masked),
        (Error::AlreadyInService { port: 1 }, ErrorCode::AlreadyInService),
        (Error::NotAChannel { port: 1 }, ErrorCode::NotAChannel),
        (Error::NotChannelOwner { channel: 0, caller: 1 }, ErrorCode::PermissionDenied),
        (Error::ContextBusy { port: 1 }, ErrorCode::Busy),
    ];
    for (error, code) in cases {
        assert_eq!(ErrorCode::from(error), code, "{error}");
    }
    assert_eq!(ErrorCode::from(vcpu_state::Error::NotInUpcall), ErrorCode::NotInUpcall);
    assert_eq!(ErrorCode::from(vcpu_state::Error::OutsideWindow), ErrorCode::OutsideWindow);
}

#[test]
fn every_call_has_an_encodable_answer() {
    assert_eq!(encode(Ok(42)), [SUCCESS, 42]);
    assert_eq!(decode_reply([0, 42]), Some(Ok(42)));
    for code in ErrorCode::ALL {
        assert_ne!(code.raw(), SUCCESS);
        assert_eq!(ErrorCode::from_raw(code.raw()), Some(code));
        assert_eq!(encode(Err(code)), [code.raw(), 0]);
        let result: HypercallResult = Err(code);
        assert_eq!(decode_reply(encode(result)), Some(result));
        // A failure never carries a value.
        assert_eq!(decode_reply([code.raw(), 1]), None);
    }
    assert_eq!(ErrorCode::from_raw(0), None);
    assert_eq!(decode_reply([ErrorCode::COUNT as u64 + 1, 0]), None);
    assert_eq!(decode_reply([u64::MAX, 0]), None);
}

#[test]
fn start_reason_values_round_trip() {
    for reason in [
        StartReason::Fresh,
        StartReason::ColdRestart { cause: 0 },
        StartReason::ColdRestart { cause: 6 },
        StartReason::WarmRestart { cause: u32::MAX },
    ] {
        assert_eq!(start_reason_from_value(start_reason_value(reason)), Some(reason));
    }
    assert_eq!(start_reason_value(StartReason::Fresh), 1 << 32);
    assert_eq!(start_reason_value(StartReason::WarmRestart { cause: 7 }), (3 << 32) | 7);
    for value in [0, 7, (1 << 32) | 1, 4 << 32, 1 << 40, u64::MAX] {
        assert_eq!(start_reason_from_value(value), None, "{value:#x}");
    }
}

// ---- the documentation ------------------------------------------------------------

const DOC: &str = include_str!("../../docs/hypercalls.md");

/// Rows of the first table under `## {heading}` whose first cell is a number.
fn table_rows(heading: &str) -> Vec<(u64, Vec<String>)> {
    let start = DOC.find(&format!("## {heading}\n")).unwrap_or_else(|| panic!("no {heading}"));
    let section = &DOC[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |end| end + 3)];
    section
        .lines()
        .filter(|line| line.starts_with('|'))
        .filter_map(|line| {
            let cells: Vec<String> = line
                .trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().trim_matches('`').to_string())
                .collect();
            let number = cells.first()?.parse().ok()?;
            Some((number, cells))
        })
        .collect()
}

#[test]
fn documented_call_table_matches_the_code() {
    let rows = table_rows("Call table");
    assert_eq!(rows.len(), CallNumber::COUNT, "one row per call");
    for (number, cells) in &rows {
        let call = CallNumber::from_raw(*number).unwrap_or_else(|| panic!("call {number}?"));
        assert_eq!(cells[1], call.name(), "name of call {number}");
        let args: Vec<bool> = cells[2..6].iter().map(|cell| cell != "—").collect();
        let expected: Vec<bool> = (0..4).map(|i| i < call.arg_count()).collect();
        assert_eq!(args, expected, "argument registers of {}", call.name());
    }
    for call in CallNumber::ALL {
        assert_eq!(rows.iter().filter(|(n, _)| *n == call.raw()).count(), 1, "{call:?}");
    }
}

#[test]
fn documented_status_table_matches_the_code() {
    let rows = table_rows("Status codes");
    assert_eq!(rows.len(), ErrorCode::COUNT + 1, "success and one row per code");
    for (status, cells) in &rows {
        let name = match ErrorCode::from_raw(*status) {
            Some(code) => code.name(),
            None if *status == SUCCESS => "Success",
            None => panic!("status {status} is not in the code"),
        };
        assert_eq!(cells[1], name, "name of status {status}");
    }
}

#[test]
fn documented_version_and_limits_match_the_code() {
    assert!(DOC.contains(&format!("ABI version: **{ABI_VERSION}**")));
    assert!(DOC.contains(&format!("length (0..={CONSOLE_WRITE_MAX})")));
}

// ---- properties -------------------------------------------------------------------

/// A register value: mostly the edges where validation decides.
fn register() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        0..300u64,
        3900..4200u64,
        (0..64u32).prop_map(|shift| 1u64 << shift),
        (u64::MAX - 300)..=u64::MAX,
        any::<u64>(),
    ]
}

fn raw_call() -> impl Strategy<Value = RawCall> {
    let number = prop_oneof![4 => 0..(CallNumber::COUNT as u64 + 2), 1 => any::<u64>()];
    let args = prop_oneof![
        // Reserved registers zero, so the arguments themselves get exercised.
        (register(), register()).prop_map(|(a, b)| [a, b, 0, 0]),
        [register(), register(), register(), register()],
    ];
    (number, args).prop_map(|(number, args)| RawCall { number, args })
}

/// Checks one decode of `raw` for `W`: errors are consistent, and an `Ok` is canonical.
fn check_decode<const W: usize>(raw: &RawCall) -> Result<(), proptest::test_runner::TestCaseError> {
    match decode::<W>(raw) {
        Ok(request) => {
            prop_assert_eq!(encode_request(&request), *raw);
            prop_assert_eq!(request.number().raw(), raw.number);
        }
        Err(HypercallError::UnknownCall { number }) => {
            prop_assert_eq!(number, raw.number);
            prop_assert!(CallNumber::from_raw(number).is_none());
        }
        Err(HypercallError::ReservedArgument { index }) => {
            let call = CallNumber::from_raw(raw.number).expect("known call");
            prop_assert!(usize::from(index) >= call.arg_count());
            prop_assert!(raw.args[usize::from(index)] != 0);
        }
        Err(error) => {
            prop_assert!(CallNumber::from_raw(raw.number).is_some());
            prop_assert!(matches!(
                ErrorCode::from(error),
                ErrorCode::InvalidArgument | ErrorCode::BadAddress
            ));
        }
    }
    Ok(())
}

/// A valid request of one of the calls, from valid field values.
fn request<const W: usize>() -> impl Strategy<Value = Request<W>> {
    let fields = (
        0..CallNumber::COUNT,
        0..(Port::<W>::COUNT as u32),
        any::<u8>(),
        any::<u32>(),
        register(),
        0..=CONSOLE_WRITE_MAX,
    );
    fields.prop_map(|(call, port_raw, vector, word, address, len)| {
        let port = Port::<W>::new(port_raw).expect("port in range");
        let entry = NonZeroU64::new(address);
        match CallNumber::ALL[call] {
            CallNumber::AbiVersion => Request::AbiVersion,
            CallNumber::RequestIrq => Request::RequestIrq { vector, port },
            CallNumber::DetachIrq => Request::DetachIrq { vector },
            CallNumber::EnableIrqs => Request::EnableIrqs,
            CallNumber::DisableIrqs => Request::DisableIrqs,
            CallNumber::Flash => Request::Flash,
            CallNumber::SetIsrLevel => Request::SetIsrLevel { level: word },
            CallNumber::Idle => Request::Idle,
            CallNumber::Acknowledge => Request::Acknowledge { port },
            CallNumber::TakeCount => Request::TakeCount { port },
            CallNumber::Mask => Request::Mask { port },
            CallNumber::Unmask => Request::Unmask { port },
            CallNumber::Notify => Request::Notify { port },
            CallNumber::ReadClock => Request::ReadClock,
            CallNumber::RegisterUpcall => Request::RegisterUpcall { entry },
            CallNumber::RegisterFaultHandler => Request::RegisterFaultHandler { entry },
            CallNumber::RegisterPortHandler => Request::RegisterPortHandler { port, entry },
            CallNumber::ConsoleWrite => Request::ConsoleWrite {
                buffer: UserSlice::new(address.min(u64::MAX - len), len, CONSOLE_WRITE_MAX)
                    .expect("valid buffer"),
            },
            CallNumber::ExecStopError => Request::ExecStopError { code: word },
            CallNumber::StartReason => Request::StartReason,
            CallNumber::UpcallReturn => Request::UpcallReturn,
            CallNumber::PingAnswer => Request::PingAnswer,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Any registers at all: no panic, consistent errors, and every `Ok` re-encodes to
    /// exactly the registers it came from (decoding is canonical).
    #[test]
    fn decode_never_panics_and_is_canonical(raw in raw_call()) {
        check_decode::<1>(&raw)?;
        check_decode::<WIDE>(&raw)?;
    }

    /// Every request survives encode then decode.
    #[test]
    fn requests_round_trip_narrow(request in request::<1>()) {
        prop_assert_eq!(decode::<1>(&encode_request(&request)), Ok(request));
    }

    /// The same with 4,096 ports.
    #[test]
    fn requests_round_trip_wide(request in request::<WIDE>()) {
        prop_assert_eq!(decode::<WIDE>(&encode_request(&request)), Ok(request));
    }

    /// Every reply survives encode then decode.
    #[test]
    fn replies_round_trip(value in any::<u64>(), code in 0..ErrorCode::COUNT, ok in any::<bool>()) {
        let result: HypercallResult = if ok { Ok(value) } else { Err(ErrorCode::ALL[code]) };
        prop_assert_eq!(decode_reply(encode(result)), Some(result));
    }
}
