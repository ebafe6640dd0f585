//! The shared page is untrusted: a guest may write any bytes over it at any time. These
//! properties fill the page with arbitrary bytes between random kernel operations and
//! check that the kernel side never panics, keeps its own state exactly as a reference
//! model that reads only the two documented fields (flag and ISR level), and writes the
//! fields it owns as documented.

use proptest::prelude::{
    Just, ProptestConfig, Strategy, any, prop, prop_assert, prop_assert_eq, prop_oneof, proptest,
};
use vcpu_state::{
    CatchUpPolicy, Error, MASKED, Nesting, PAGE_LEN, Resume, SharedPage, Signal, StartReason,
    TimeAccount, Vcpu,
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
            (Resume::Run, Effect::Flagged)
        }
    }
}

fn run(max: u8, ops: &[Op]) -> Result<(), String> {
    let page = SharedPage::new();
    let mut vcpu = Vcpu::new(Nesting::bounded(max).map_err(|e| e.to_string())?);
    let mut model = Model { max, ..Model::default() };
    vcpu.start(&page, StartReason::Fresh);
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
                    let s = page.signal();
                    if (s == Signal::Open) != is_open
                        || page.to_bytes()[SharedPage::UPCALL_PENDING_OFFSET] != 1
                    {
                        return Err(format!("step {step}: signal {s:?} on open={is_open}"));
                    }
                    continue;
                }
                Op::Start => {
                    vcpu.start(&page, StartReason::WarmRestart { cause: step as u32 });
                    model = Model { max, ..Model::default() };
                    let fresh = SharedPage::new();
                    fresh.reset(StartReason::WarmRestart { cause: step as u32 });
                    if page.to_bytes() != fresh.to_bytes() {
                        return Err(format!("step {step}: start left {:?}", page.to_bytes()));
                    }
                    continue;
                }
                Op::Exit => {
                    let expected = if model.in_window { Ok(()) } else { Err(Error::NotInWindow) };
                    model.in_window = false;
                    let actual = vcpu.exit();
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
                    let actual = vcpu.enter(&page, d);
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
                        vcpu.resume(&page, d)
                    } else {
                        vcpu.deliver(&page, d)
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
                    let actual = vcpu.enable(&page, d);
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
                    let actual = vcpu.flash(&page, d);
                    match outside {
                        Some(e) => (actual, e, Effect::None),
                        None => {
                            let (r, e) = model.decide(level == 0, d, true);
                            (actual, Ok(r), e)
                        }
                    }
                }
                Op::SetLevel(l, d) => {
                    let actual = vcpu.set_level(&page, l, d);
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
                    let actual = vcpu.idle(&page, d);
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
                    let actual = vcpu.upcall_return(&page, d);
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
        if state != (model.restore.len(), model.idle, model.in_window) || vcpu.depth() > max {
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

    /// The time account never reads the page: a scribble between checkpoints changes
    /// nothing it decides, and the published clock is rewritten at every entry.
    #[test]
    fn scribbled_page_does_not_touch_time(
        bytes in prop::collection::vec(any::<u8>(), PAGE_LEN * 4),
        gaps in prop::collection::vec((0u64..1_000_000, 1u64..1_000), 1..20),
    ) {
        let page = SharedPage::new();
        let mut scribbled = TimeAccount::new(CatchUpPolicy::Collapse, 0);
        let mut clean = scribbled;
        let mut now = 0;
        for (i, &(gap, len)) in gaps.iter().enumerate() {
            now += gap;
            let chunk = &bytes[(i % 4) * PAGE_LEN..][..PAGE_LEN];
            page.write_bytes(&chunk.try_into().unwrap());
            let entry = scribbled.enter(now, len).unwrap();
            prop_assert_eq!(entry, clean.enter(now, len).unwrap());
            page.publish_clock(&entry.clock);
            prop_assert_eq!(page.guest().clock(), entry.clock);
            page.write_bytes(&chunk.try_into().unwrap());
            now += len;
            prop_assert_eq!(scribbled.exit(now).unwrap(), clean.exit(now).unwrap());
        }
        prop_assert_eq!(scribbled, clean);
    }
}
