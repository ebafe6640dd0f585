//! The shared page is untrusted: a guest may write any bytes over it at any time. These
//! properties fill the page with arbitrary bytes between random kernel operations and
//! check that the kernel side never panics, keeps its own state exactly as a reference
//! model that reads only the two documented fields (flag and ISR level), and writes the
//! fields it owns as documented.

use proptest::prelude::{
    Just, ProptestConfig, Strategy, any, prop, prop_assert, prop_assert_eq, prop_oneof, proptest,
};
use vcpu_state::{
    CatchUpPolicy, Doorbell, Error, MASKED, Nesting, PAGE_LEN, Partition, Resume, SharedPage,
    Signal, StartReason, Vcpu,
};

#[derive(Clone, Debug)]
enum Op {
    Scribble(Vec<u8>),
    /// The guest writes one byte (a single store into one field).
    Poke(usize, u8),
    Enter(bool),
    Exit,
    Resume(bool),
    Deliver(bool),
    Enable(bool),
    Disable,
    Flash(bool),
    SetLevel(u32, bool),
    Close,
    Idle(bool),
    Return(bool),
    Signal,
    Start,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => prop::collection::vec(any::<u8>(), PAGE_LEN).prop_map(Op::Scribble),
        3 => (0..PAGE_LEN, prop_oneof![Just(0u8), Just(1u8), any::<u8>()]).prop_map(|(i, b)| Op::Poke(i, b)),
        2 => any::<bool>().prop_map(Op::Enter),
        2 => Just(Op::Exit),
        2 => any::<bool>().prop_map(Op::Resume),
        1 => any::<bool>().prop_map(Op::Deliver),
        1 => any::<bool>().prop_map(Op::Enable),
        1 => Just(Op::Disable),
        1 => any::<bool>().prop_map(Op::Flash),
        1 => (prop_oneof![Just(0u32), any::<u32>()], any::<bool>()).prop_map(|(l, d)| Op::SetLevel(l, d)),
        1 => Just(Op::Close),
        1 => any::<bool>().prop_map(Op::Idle),
        2 => any::<bool>().prop_map(Op::Return),
        1 => Just(Op::Signal),
        1 => Just(Op::Start),
    ]
}

/// The reference model: plain fields, and "open" read from the raw bytes at the
/// documented offsets.
#[derive(Debug, Default)]
struct Model {
    max: u8,
    /// Flag to restore on return, one per upcall in progress.
    restore: Vec<bool>,
    idle: bool,
    in_window: bool,
}

/// What the model expects an operation to write into the kernel-owned fields.
#[derive(Debug, PartialEq)]
enum Effect {
    None,
    Injected,
    Flagged,
}

fn open(bytes: &[u8; PAGE_LEN]) -> bool {
    let level = u32::from_ne_bytes(bytes[SharedPage::ISR_LEVEL_OFFSET..][..4].try_into().unwrap());
    bytes[SharedPage::UPCALL_MASK_OFFSET] == 0 && level == 0
}

impl Model {
    fn decide(&mut self, open: bool, deliverable: bool, restore: bool) -> (Resume, Effect) {
        if self.idle {
            if !deliverable {
                return (Resume::Idle, Effect::None);
            }
            self.idle = false;
        }
        if !deliverable {
            (Resume::Run, Effect::None)
        } else if open && self.restore.len() < usize::from(self.max) {
            self.restore.push(restore);
            (Resume::Upcall { depth: self.restore.len() as u8 }, Effect::Injected)
        } else {
            (Resume::Flagged, Effect::Flagged)
        }
    }
}

fn run(max: u8, ops: &[Op]) -> Result<(), String> {
    let (page, bell) = (SharedPage::new(), Doorbell::new());
    let mut vcpu = Vcpu::new(Nesting::bounded(max).map_err(|e| e.to_string())?);
    let mut model = Model { max, ..Model::default() };
    vcpu.start(&page, &bell, StartReason::Fresh);
    for (step, op) in ops.iter().enumerate() {
        let before = page.to_bytes();
        let is_open = open(&before);
        let level = u32::from_ne_bytes(before[8..12].try_into().unwrap());
        let outside = if model.in_window { None } else { Some(Err(Error::OutsideWindow)) };
        // (actual, expected, effect)
        let (actual, expected, effect): (Result<Resume, Error>, Result<Resume, Error>, Effect) =
            match *op {
                Op::Scribble(ref bytes) => {
                    page.write_bytes(&bytes.as_slice().try_into().unwrap());
                    continue;
                }
                Op::Poke(i, b) => {
                    let mut bytes = before;
                    bytes[i] = b;
                    page.write_bytes(&bytes);
                    continue;
                }
                Op::Signal => {
                    let s = bell.signal(&page);
                    let expected = match (model.in_window, model.idle, is_open) {
                        (false, _, _) => Signal::Later,
                        (true, true, _) => Signal::Wake,
                        (true, false, true) => Signal::Open,
                        (true, false, false) => Signal::Flagged,
                    };
                    if s != expected || page.to_bytes()[SharedPage::UPCALL_PENDING_OFFSET] != 1 {
                        return Err(format!("step {step}: signal {s:?}, expected {expected:?}"));
                    }
                    continue;
                }
                Op::Start => {
                    vcpu.start(&page, &bell, StartReason::WarmRestart { cause: step as u32 });
                    model = Model { max, ..Model::default() };
                    let fresh = SharedPage::new();
                    fresh.reset(StartReason::WarmRestart { cause: step as u32 });
                    if page.to_bytes() != fresh.to_bytes() {
                        return Err(format!("step {step}: start left {:?}", page.to_bytes()));
                    }
                    continue;
                }
                Op::Exit => {
                    let expected = if model.in_window { Ok(()) } else { Err(Error::OutsideWindow) };
                    model.in_window = false;
                    let actual = vcpu.exit(&bell);
                    if actual != expected {
                        return Err(format!("step {step}: exit {actual:?}, expected {expected:?}"));
                    }
                    continue;
                }
                Op::Close => {
                    let expected =
                        if model.in_window { Ok(level) } else { Err(Error::OutsideWindow) };
                    let actual = vcpu.close(&page);
                    if actual != expected {
                        return Err(format!(
                            "step {step}: close {actual:?}, expected {expected:?}"
                        ));
                    }
                    continue;
                }
                Op::Enter(d) => {
                    let actual = vcpu.enter(&page, &bell, || d);
                    if model.in_window {
                        (actual, Err(Error::AlreadyInWindow), Effect::None)
                    } else {
                        model.in_window = true;
                        let (r, e) = model.decide(is_open, d, false);
                        (actual, Ok(r), e)
                    }
                }
                Op::Resume(d) | Op::Deliver(d) => {
                    let actual = if matches!(op, Op::Resume(_)) {
                        vcpu.resume(&page, &bell, || d)
                    } else {
                        vcpu.deliver(&page, &bell, || d)
                    };
                    match outside {
                        Some(e) => (actual, e, Effect::None),
                        None => {
                            let (r, e) = model.decide(is_open, d, false);
                            (actual, Ok(r), e)
                        }
                    }
                }
                Op::Enable(d) => {
                    let actual = vcpu.enable(&page, &bell, || d);
                    match outside {
                        Some(e) => (actual, e, Effect::None),
                        None => {
                            let (r, e) = model.decide(level == 0, d, false);
                            (actual, Ok(r), e)
                        }
                    }
                }
                Op::Disable => {
                    let actual = vcpu.disable(&page);
                    (actual, outside.unwrap_or(Ok(Resume::Run)), Effect::None)
                }
                Op::Flash(d) => {
                    let actual = vcpu.flash(&page, &bell, || d);
                    match outside {
                        Some(e) => (actual, e, Effect::None),
                        None => {
                            let (r, e) = model.decide(level == 0, d, true);
                            (actual, Ok(r), e)
                        }
                    }
                }
                Op::SetLevel(l, d) => {
                    let actual = vcpu.set_level(&page, &bell, l, || d);
                    match outside {
                        Some(e) => (actual, e, Effect::None),
                        None => {
                            let mask_clear = before[SharedPage::UPCALL_MASK_OFFSET] == 0;
                            let (r, e) = model.decide(mask_clear && l == 0, d, false);
                            (actual, Ok(r), e)
                        }
                    }
                }
                Op::Idle(d) => {
                    let actual = vcpu.idle(&page, &bell, || d);
                    match outside {
                        Some(e) => (actual, e, Effect::None),
                        None if d => {
                            let (r, e) = model.decide(is_open, d, false);
                            (actual, Ok(r), e)
                        }
                        None => {
                            model.idle = true;
                            (actual, Ok(Resume::Idle), Effect::None)
                        }
                    }
                }
                Op::Return(d) => {
                    let actual = vcpu.upcall_return(&page, &bell, || d);
                    match outside {
                        Some(e) => (actual, e, Effect::None),
                        None => match model.restore.pop() {
                            None => (actual, Err(Error::NotInUpcall), Effect::None),
                            Some(masked) => {
                                let returned_open = !masked && level == 0;
                                let (r, e) = model.decide(returned_open, d, false);
                                let after = page.to_bytes();
                                let depth_ok = e == Effect::Injected
                                    || after[SharedPage::UPCALL_DEPTH_OFFSET] as usize
                                        == model.restore.len();
                                let mask_ok = e == Effect::Injected
                                    || after[SharedPage::UPCALL_MASK_OFFSET] == u8::from(masked);
                                if !depth_ok || !mask_ok {
                                    return Err(format!("step {step}: return left {after:?}"));
                                }
                                (actual, Ok(r), e)
                            }
                        },
                    }
                }
            };
        if actual != expected {
            return Err(format!("step {step} {op:?}: {actual:?}, model {expected:?}"));
        }
        // The kernel's own state is exactly the model's, whatever the page held.
        let state = (vcpu.depth() as usize, vcpu.is_idle(), vcpu.in_window());
        let raisers_see = (bell.in_window(), bell.is_idle());
        if state != (model.restore.len(), model.idle, model.in_window)
            || raisers_see != (model.in_window, model.idle && model.in_window)
            || vcpu.depth() > max
        {
            return Err(format!("step {step} {op:?}: vcpu {vcpu:?}, model {model:?}"));
        }
        let after = page.to_bytes();
        let ok = match effect {
            Effect::None => true,
            Effect::Injected => {
                after[SharedPage::UPCALL_MASK_OFFSET] == MASKED
                    && after[SharedPage::UPCALL_PENDING_OFFSET] == 0
                    && after[SharedPage::UPCALL_DEPTH_OFFSET] == vcpu.depth()
            }
            Effect::Flagged => after[SharedPage::UPCALL_PENDING_OFFSET] == 1,
        };
        if !ok {
            return Err(format!("step {step} {op:?}: {effect:?} but the page holds {after:?}"));
        }
        // Whatever the bytes, the guest side reads them without panicking.
        let guest = page.guest();
        let _ =
            (guest.clock(), guest.start_reason(), guest.upcall_depth(), guest.version_matches());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn scribbled_page_never_panics_and_never_bends_kernel_state(
        max in 1u8..=4,
        ops in prop::collection::vec(op(), 1..80),
    ) {
        let outcome = run(max, &ops);
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
    }

    /// The real entry path over a scribbled page: [`Partition::enter`] republishes the
    /// clock and the upcall depth whatever the guest wrote, its time decisions and state
    /// are exactly those of a twin whose page is never touched, and the only thing the
    /// scribble changes is whether this guest gets its upcall now or finds it flagged.
    #[test]
    fn scribbled_page_gets_the_kernels_clock_and_leaves_kernel_state_alone(
        policy in prop_oneof![
            Just(CatchUpPolicy::Replay),
            Just(CatchUpPolicy::Warp),
            Just(CatchUpPolicy::Collapse),
            Just(CatchUpPolicy::BoundedReplay { max: core::num::NonZeroU32::new(7).unwrap() }),
        ],
        bytes in prop::collection::vec(any::<u8>(), PAGE_LEN * 4),
        windows in prop::collection::vec(
            (0u64..1_000_000, 1u64..1_000, 0u64..3, any::<bool>(), 0usize..4),
            1..20,
        ),
    ) {
        let (page, bell) = (SharedPage::new(), Doorbell::new());
        let (clean_page, clean_bell) = (SharedPage::new(), Doorbell::new());
        let mut scribbled = Partition::new(policy, Nesting::NONE, 0);
        let mut clean = scribbled.clone();
        let _ = scribbled.start(&page, &bell, 0, StartReason::Fresh);
        let _ = clean.start(&clean_page, &clean_bell, 0, StartReason::Fresh);
        let mut now = 0;
        for &(gap, len, late, deliverable, chunk) in &windows {
            now += gap;
            let chunk: [u8; PAGE_LEN] = bytes[chunk * PAGE_LEN..][..PAGE_LEN].try_into().unwrap();
            page.write_bytes(&chunk);
            let entered = scribbled.enter(&page, &bell, now, len, |_| deliverable).unwrap();
            let twin = clean.enter(&clean_page, &clean_bell, now, len, |_| deliverable).unwrap();
            prop_assert_eq!(entered.entry, twin.entry);
            // The page holds what the kernel says, not what the guest wrote.
            prop_assert_eq!(page.guest().clock(), entered.entry.clock);
            prop_assert_eq!(page.guest().clock(), scribbled.time().clock(now));
            prop_assert_eq!(page.guest().upcall_depth(), scribbled.vcpu().depth());
            let after = page.to_bytes();
            let clean_after = clean_page.to_bytes();
            let kernel = SharedPage::CLOCK_NOW_OFFSET..SharedPage::RESERVED_OFFSET;
            prop_assert_eq!(&after[kernel.clone()], &clean_after[kernel]);
            // The decision reads only the two documented fields.
            let expected = match (deliverable, open(&chunk)) {
                (false, _) => Resume::Run,
                (true, true) => Resume::Upcall { depth: 1 },
                (true, false) => Resume::Flagged,
            };
            prop_assert_eq!(entered.resume, expected);
            if let Resume::Upcall { .. } = entered.resume {
                // The handler takes the event and returns.
                let back = scribbled.vcpu_mut().upcall_return(&page, &bell, || false);
                prop_assert_eq!(back, Ok(Resume::Run));
            }
            page.write_bytes(&chunk);
            now += len + late;
            let exit = scribbled.exit(&bell, now).unwrap();
            prop_assert_eq!(exit, clean.exit(&clean_bell, now).unwrap());
            prop_assert_eq!(exit.overrun.map_or(0, |o| o.get()), late);
            // Kernel state: identical to the twin's, whatever the page held.
            prop_assert_eq!(scribbled.time(), clean.time());
            prop_assert_eq!(scribbled.vcpu().depth(), clean.vcpu().depth());
            prop_assert_eq!(scribbled.in_window(), clean.in_window());
            prop_assert_eq!(
                (bell.in_window(), bell.is_idle()),
                (clean_bell.in_window(), clean_bell.is_idle())
            );
        }
    }
}
