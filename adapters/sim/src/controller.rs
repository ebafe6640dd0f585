//! The interrupt controller and the devices behind it.
//!
//! Each line has a mask, an in-service bit (set when a CPU accepts the interrupt, cleared
//! by the EOI), and for an edge line a request latch (an edge that arrives while one is
//! already latched merges with it; one that arrives while the line is masked is lost, as
//! with an IO-APIC). A level line requests while its device asserts it. A line that
//! requests, is unmasked and is not in service is delivered to one CPU (the scheduler
//! chooses which), where it waits until that CPU takes it.

use crate::system::{LEVEL_VECTOR, LINE_VECTOR, STORM_VECTOR};

/// One line's controller state.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Line {
    pub(crate) masked: bool,
    pub(crate) in_service: bool,
    pub(crate) latched: bool,
    pub(crate) asserted: bool,
    /// Device interrupts lost because the line was masked.
    pub(crate) lost_masked: u64,
    /// Device interrupts merged into one already latched.
    pub(crate) merged: u64,
}

/// The lines the module routes (the spurious vector has no line: it is injected).
pub(crate) const LINES: [u8; 3] = [LINE_VECTOR, LEVEL_VECTOR, STORM_VECTOR];

/// The controller.
#[derive(Clone, Debug, Default)]
pub(crate) struct Controller {
    pub(crate) lines: [Line; 3],
    /// The level device never lets go (stuck asserted).
    pub(crate) stuck: bool,
}

impl Controller {
    fn index(vector: u8) -> Option<usize> {
        LINES.iter().position(|&v| v == vector)
    }

    /// The line of `vector`, if the controller has one.
    pub(crate) fn line(&mut self, vector: u8) -> Option<&mut Line> {
        Self::index(vector).map(|i| &mut self.lines[i])
    }

    /// The line of `vector`, read only.
    pub(crate) fn get(&self, vector: u8) -> Option<&Line> {
        Self::index(vector).map(|i| &self.lines[i])
    }

    /// An edge from the device of `vector`.
    pub(crate) fn edge(&mut self, vector: u8) {
        if let Some(line) = self.line(vector) {
            if line.masked {
                line.lost_masked += 1;
            } else if line.latched {
                line.merged += 1;
            } else {
                line.latched = true;
            }
        }
    }

    /// The level device asserts (or with `false` releases) its line.
    pub(crate) fn set_level(&mut self, asserted: bool) {
        let asserted = asserted || self.stuck;
        if let Some(line) = self.line(LEVEL_VECTOR) {
            line.asserted = asserted;
        }
    }

    /// The lines ready to be delivered to a CPU now.
    pub(crate) fn ready(&self) -> impl Iterator<Item = u8> + '_ {
        LINES.iter().zip(&self.lines).filter_map(|(&vector, line)| {
            let request = if vector == LEVEL_VECTOR { line.asserted } else { line.latched };
            (request && !line.masked && !line.in_service).then_some(vector)
        })
    }

    /// `vector` was handed to a CPU: in service until its EOI.
    pub(crate) fn accept(&mut self, vector: u8) {
        if let Some(line) = self.line(vector) {
            line.in_service = true;
            line.latched = false;
        }
    }
}
