//! Failures of the local disk or of the store file itself (full, read-only, damaged,
//! file too large): no retry and no other stream can get past them, so a sync stops at
//! once on the first one (see [`crate::sync`]) and says where and what to do.

use std::io::ErrorKind;
use std::path::Path;

/// Whether `err` (anywhere in its chain) is a local disk or store failure.
pub fn is_local_fault(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        if let Some(rusqlite::Error::SqliteFailure(e, _)) = c.downcast_ref::<rusqlite::Error>() {
            use rusqlite::ErrorCode::*;
            return matches!(
                e.code,
                DiskFull
                    | SystemIoFailure
                    | ReadOnly
                    | CannotOpen
                    | DatabaseCorrupt
                    | NotADatabase
                    | PermissionDenied
                    | OutOfMemory
                    | NoLargeFileSupport
            );
        }
        c.downcast_ref::<std::io::Error>().is_some_and(io_fault)
    })
}

/// A write error of the disk rather than of a request: full, over quota, read-only, a
/// file over the size limit.
fn io_fault(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::StorageFull
            | ErrorKind::QuotaExceeded
            | ErrorKind::ReadOnlyFilesystem
            | ErrorKind::FileTooLarge
    ) || matches!(
        e.raw_os_error(),
        Some(libc::ENOSPC | libc::EDQUOT | libc::EROFS | libc::EFBIG | libc::EIO)
    )
}

/// `err` with what it means and the fix in front: the store at `store` cannot be
/// written.
pub fn name_local_fault(err: anyhow::Error, store: &Path) -> anyhow::Error {
    let dir = store.parent().unwrap_or(store);
    err.context(format!(
        "the store `{}` cannot be written: free space on the disk that holds `{}` (or make it writable), then run `okx-export sync` again; every page stored so far is kept",
        store.display(),
        dir.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_failures_are_local_faults() {
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some("database or disk is full".into()),
        );
        assert!(is_local_fault(
            &anyhow::Error::new(full).context("stream `bills`")
        ));
        let io = std::io::Error::from_raw_os_error(libc::ENOSPC);
        assert!(is_local_fault(&anyhow::Error::new(io)));
        let constraint =
            rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT), None);
        assert!(!is_local_fault(&anyhow::Error::new(constraint)));
        assert!(!is_local_fault(&anyhow::anyhow!("OKX `bills` failed")));
        let named = name_local_fault(
            anyhow::anyhow!("disk I/O error"),
            Path::new("/d/okx-export.sqlite3"),
        );
        let text = format!("{named:#}");
        assert!(
            text.starts_with(
                "the store `/d/okx-export.sqlite3` cannot be written: free space on the disk that holds `/d`"
            ),
            "{text}"
        );
    }
}
