//! Build-script helper of the QEMU test kernels. A kernel's partitions run a program of
//! their own, built apart from the kernel (so that every instruction they execute, the
//! compiler's helpers and `core`'s included, is in their read-only user image, in a debug
//! build as in a release one), linked at a fixed address, and embedded by the kernel as
//! bytes: [`build`] runs cargo for it (same profile as the kernel, a target directory of
//! its own), [`flatten`] lays its loadable segments out from that address.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Why a guest image could not be made.
#[derive(Debug)]
pub enum Error {
    /// Cargo could not be run, or the ELF file read or the image written.
    Io(PathBuf, std::io::Error),
    /// Cargo failed (its output is on the build script's stderr).
    Cargo(std::process::ExitStatus),
    /// The ELF file is not a little-endian ELF64 executable with loadable segments.
    NotElf(&'static str),
    /// Its lowest loadable address is not the one the kernel maps the image at.
    WrongBase {
        /// The kernel's address.
        expected: u64,
        /// The ELF's.
        found: u64,
    },
    /// A loadable segment is writable: partitions share the image read-only.
    Writable {
        /// The segment's address.
        vaddr: u64,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(path, e) => write!(f, "{}: {e}", path.display()),
            Self::Cargo(status) => write!(f, "cargo build of the guest failed: {status}"),
            Self::NotElf(why) => write!(f, "not a guest ELF: {why}"),
            Self::WrongBase { expected, found } => {
                write!(f, "the guest is linked at {found:#x}, the kernel maps it at {expected:#x}")
            }
            Self::Writable { vaddr } => {
                write!(f, "a writable segment at {vaddr:#x}: the guest image must be read-only")
            }
        }
    }
}

impl std::error::Error for Error {}

/// Builds binary `bin` of package `package` for `x86_64-unknown-none` with the calling
/// build script's profile (`PROFILE`), in `target_dir`, from `workspace`; answers the ELF.
///
/// # Errors
/// [`Error::Io`] if cargo cannot be run, [`Error::Cargo`] if it fails.
pub fn build(
    workspace: &Path,
    package: &str,
    bin: &str,
    target_dir: &Path,
) -> Result<PathBuf, Error> {
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args(["build", "--target", "x86_64-unknown-none", "-p", package, "--bin", bin])
        .env("CARGO_TARGET_DIR", target_dir);
    if release {
        command.arg("--release");
    }
    // The outer build's flags (a loom, coverage or fuzz configuration) are not the guest's.
    for var in
        ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_TARGET", "RUSTC_WORKSPACE_WRAPPER"]
    {
        command.env_remove(var);
    }
    let status = command.status().map_err(|e| Error::Io(workspace.to_path_buf(), e))?;
    if !status.success() {
        return Err(Error::Cargo(status));
    }
    let profile = if release { "release" } else { "debug" };
    Ok(target_dir.join("x86_64-unknown-none").join(profile).join(bin))
}

const PT_LOAD: u32 = 1;
const PF_W: u32 = 2;

fn field<const N: usize>(bytes: &[u8], at: usize) -> Result<[u8; N], Error> {
    bytes.get(at..at + N).and_then(|b| b.try_into().ok()).ok_or(Error::NotElf("truncated"))
}

fn word(bytes: &[u8], at: usize) -> Result<u64, Error> {
    field::<8>(bytes, at).map(u64::from_le_bytes)
}

fn index(value: u64) -> Result<usize, Error> {
    usize::try_from(value).map_err(|_| Error::NotElf("offset out of range"))
}

/// The flat image of ELF `elf`: its loadable segments at their addresses from `base`
/// (which must be the lowest), zero where a segment's memory goes past its file bytes.
///
/// # Errors
/// [`Error::NotElf`] for anything but a little-endian ELF64 file with loadable segments
/// inside it, [`Error::WrongBase`], [`Error::Writable`].
pub fn flatten(elf: &[u8], base: u64) -> Result<Vec<u8>, Error> {
    if elf.get(..4) != Some(b"\x7fELF".as_slice())
        || elf.get(4) != Some(&2)
        || elf.get(5) != Some(&1)
    {
        return Err(Error::NotElf("not a little-endian ELF64 file"));
    }
    let phoff = index(word(elf, 0x20)?)?;
    let entsize = usize::from(u16::from_le_bytes(field(elf, 0x36)?));
    let count = usize::from(u16::from_le_bytes(field(elf, 0x38)?));
    let mut segments = Vec::new();
    for i in 0..count {
        let at = phoff + i * entsize;
        if u32::from_le_bytes(field(elf, at)?) != PT_LOAD {
            continue;
        }
        let flags = u32::from_le_bytes(field(elf, at + 4)?);
        let (offset, vaddr) = (index(word(elf, at + 8)?)?, word(elf, at + 16)?);
        let (filesz, memsz) = (index(word(elf, at + 32)?)?, word(elf, at + 40)?);
        if memsz == 0 {
            continue;
        }
        if flags & PF_W != 0 {
            return Err(Error::Writable { vaddr });
        }
        let bytes =
            elf.get(offset..offset + filesz).ok_or(Error::NotElf("segment past the file"))?;
        segments.push((vaddr, memsz, bytes));
    }
    let found = segments.iter().map(|s| s.0).min().ok_or(Error::NotElf("no loadable segment"))?;
    if found != base {
        return Err(Error::WrongBase { expected: base, found });
    }
    let end = segments.iter().map(|s| s.0 + s.1).max().unwrap_or(base);
    let mut image = vec![0; index(end - base)?];
    for (vaddr, _, bytes) in segments {
        let at = index(vaddr - base)?;
        image[at..at + bytes.len()].copy_from_slice(bytes);
    }
    Ok(image)
}

/// [`build`], then [`flatten`] into `out` (the kernel's `include_bytes!`), for a build
/// script: tells cargo to run it again when `sources` change.
///
/// # Errors
/// As [`build`] and [`flatten`]; [`Error::Io`] if the ELF cannot be read or the image
/// written.
pub fn make(
    workspace: &Path,
    package: &str,
    target_dir: &Path,
    base: u64,
    out: &Path,
    sources: &[&Path],
) -> Result<usize, Error> {
    for source in sources {
        println!("cargo:rerun-if-changed={}", source.display());
    }
    let elf_path = build(workspace, package, package, target_dir)?;
    let elf = std::fs::read(&elf_path).map_err(|e| Error::Io(elf_path.clone(), e))?;
    let image = flatten(&elf, base)?;
    std::fs::write(out, &image).map_err(|e| Error::Io(out.to_path_buf(), e))?;
    Ok(image.len())
}

/// The whole build script of a test kernel whose partitions run `guest` (a package of
/// the workspace, in `tests/`), linked at `base`: for `x86_64-unknown-none` only, the
/// kernel's link arguments (its `linker.ld`, no PIE, 4 KiB pages) and the guest's image
/// made into `OUT_DIR/guest.bin`, named to the kernel by the `GUEST_IMAGE` variable (its
/// `include_bytes!`); on any other target nothing (the kernel is an empty program there).
/// Exits the build script with a message if the image cannot be made.
pub fn kernel_build_script(guest: &str, base: u64) {
    println!("cargo:rerun-if-changed=linker.ld");
    println!("cargo:rerun-if-env-changed=TARGET");
    if std::env::var("TARGET").unwrap_or_default() != "x86_64-unknown-none" {
        return;
    }
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    println!("cargo:rustc-link-arg-bins=-T{}/linker.ld", dir.display());
    println!("cargo:rustc-link-arg-bins=--no-pie");
    println!("cargo:rustc-link-arg-bins=-zmax-page-size=0x1000");

    let workspace = dir.join("../..");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    let image = out.join("guest.bin");
    let guest_dir = format!("tests/{guest}");
    let sources: Vec<PathBuf> = [
        guest_dir.as_str(),
        "tests/guest-fpu",
        "adapters/guest/src",
        "adapters/x86/src",
        "irq-router/src",
        "notify-core/src",
        "vcpu-state/src",
    ]
    .iter()
    .map(|s| workspace.join(s))
    .collect();
    let sources: Vec<&Path> = sources.iter().map(PathBuf::as_path).collect();
    match make(&workspace, guest, &out.join("guest-target"), base, &image, &sources) {
        Ok(_) => println!("cargo:rustc-env=GUEST_IMAGE={}", image.display()),
        Err(e) => {
            eprintln!("the partitions' program {guest}: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Error, flatten};

    /// An ELF64 header and `segments` program headers (type, flags, vaddr, file bytes,
    /// memory size), the bytes after them.
    fn elf(segments: &[(u32, u32, u64, &[u8], u64)]) -> Vec<u8> {
        let mut out = vec![0u8; 64];
        out[..6].copy_from_slice(b"\x7fELF\x02\x01");
        out[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        out[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        out[0x38..0x3a].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        let mut data_at = 64 + 56 * segments.len();
        let mut data = Vec::new();
        for &(kind, flags, vaddr, bytes, memsz) in segments {
            let mut ph = [0u8; 56];
            ph[..4].copy_from_slice(&kind.to_le_bytes());
            ph[4..8].copy_from_slice(&flags.to_le_bytes());
            ph[8..16].copy_from_slice(&(data_at as u64).to_le_bytes());
            ph[16..24].copy_from_slice(&vaddr.to_le_bytes());
            ph[32..40].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
            ph[40..48].copy_from_slice(&memsz.to_le_bytes());
            out.extend_from_slice(&ph);
            data.extend_from_slice(bytes);
            data_at += bytes.len();
        }
        out.extend_from_slice(&data);
        out
    }

    #[test]
    fn segments_are_laid_out_from_the_base_with_their_zeros() {
        let file =
            elf(&[(1, 5, 0x2000, b"abcd", 4), (4, 4, 0, b"note", 4), (1, 4, 0x2010, b"xy", 6)]);
        let image = flatten(&file, 0x2000).expect("an image");
        let mut expected = b"abcd".to_vec();
        expected.resize(0x10, 0);
        expected.extend_from_slice(b"xy\0\0\0\0");
        assert_eq!(image, expected);
    }

    #[test]
    fn bad_files_are_typed_errors() {
        assert!(matches!(flatten(b"", 0), Err(Error::NotElf(_))));
        assert!(matches!(flatten(b"\x7fELF\x01\x01", 0), Err(Error::NotElf(_))));
        let mut truncated = elf(&[(1, 5, 0x2000, b"abcd", 4)]);
        truncated.truncate(100);
        assert!(matches!(flatten(&truncated, 0x2000), Err(Error::NotElf(_))));
        assert!(matches!(flatten(&elf(&[]), 0x2000), Err(Error::NotElf(_))));
        assert!(matches!(
            flatten(&elf(&[(1, 5, 0x3000, b"a", 1)]), 0x2000),
            Err(Error::WrongBase { expected: 0x2000, found: 0x3000 })
        ));
        assert!(matches!(
            flatten(&elf(&[(1, 6, 0x2000, b"a", 1)]), 0x2000),
            Err(Error::Writable { vaddr: 0x2000 })
        ));
        let mut past = elf(&[(1, 5, 0x2000, b"abcd", 4)]);
        past.truncate(past.len() - 2);
        assert!(matches!(flatten(&past, 0x2000), Err(Error::NotElf(_))));
    }
}
