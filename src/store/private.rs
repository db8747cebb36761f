//! The data directory and the store's files are private: 0700 and 0600.
//!
//! The store holds deposit addresses, transaction hashes, balances and the account's
//! e-mail-like labels. okx-export sets its umask to 077 at start (see `main.rs`); these
//! helpers also tighten files that an older version or another tool left readable, and
//! cover library callers that keep their own umask.

use anyhow::{Context, Result};
use std::path::Path;

/// Creates `dir` (and parents) if missing; a directory created here is 0700.
pub fn create_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
        .with_context(|| format!("cannot create data directory `{}`", dir.display()))
}

/// Makes an existing data directory 0700 and the files okx-export writes in it 0600 (the
/// store and its -wal/-shm, the lock, the price cache, summaries and reports), in case an
/// older version or another tool left them readable. Other files are left alone, and so
/// are symbolic links (never followed).
pub fn tighten_data_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::symlink_metadata(dir)
            .with_context(|| format!("cannot read data directory `{}`", dir.display()))?;
        if m.is_dir() && m.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("cannot make `{}` private (chmod 700)", dir.display()))?;
        }
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read data directory `{}`", dir.display()))?;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let ours = name.ends_with("-wal")
                || name.ends_with("-shm")
                || [
                    ".csv", ".json", ".ini", ".sqlite", ".sqlite3", ".lock", ".xlsx", ".ods", ".html",
                ]
                .iter()
                .any(|ext| name.ends_with(ext));
            if ours && e.file_type().is_ok_and(|t| t.is_file()) {
                tighten(&e.path())?;
            }
        }
    }
    Ok(())
}

/// Makes an existing file 0600 (owner read/write only); a missing file is fine.
pub fn tighten(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(path) {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("cannot make `{}` private (chmod 600)", path.display()))?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
        }
    }
    Ok(())
}

/// Creates `path` empty with mode 0600 if it does not exist, else tightens it.
pub fn create_file(path: &Path) -> Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
        .with_context(|| format!("cannot create `{}`", path.display()))?;
    tighten(path)
}

/// Opens (creating 0600) a file for writing without truncating it.
pub fn open_rw(path: &Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}
