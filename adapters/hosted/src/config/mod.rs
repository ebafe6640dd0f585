//! The runner's configuration file: TOML deserialized into [`mod@file`] structures (every
//! entry keeps its span), converted into irq-router's `SystemConfig` ([`convert`]),
//! with errors that name the entry and its line and column ([`error`]).

use std::path::Path;

pub mod convert;
pub mod error;
pub mod file;

pub use convert::{Device, System};
pub use error::ConfigFileError;

/// The default configuration, shipped in the repository (`config/default.toml`).
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// Parses and converts a configuration read from `path` (for messages) with text
/// `source`; relative paths in it (a partition's `program`, `cwd`) are taken from the
/// current directory.
///
/// # Errors
/// The first error found, naming the entry with its line and column.
pub fn load(path: &str, source: &str) -> Result<System, ConfigFileError> {
    load_in(path, source, Path::new("."))
}

/// As [`load`], with relative paths taken from `base` (the file's directory).
///
/// # Errors
/// As [`load`].
pub fn load_in(path: &str, source: &str, base: &Path) -> Result<System, ConfigFileError> {
    let parsed: file::FileConfig = toml::from_str(source)
        .map_err(|e| ConfigFileError::at(path, source, e.span().map(|s| s.start), e.message()))?;
    convert::convert(path, source, base, &parsed)
}
