//! Files written whole or not at all: each goes to a private temp file beside its place and
//! is renamed over it once complete, so a reader (or a crash) never sees half a file. The
//! one CSV dialect of every output lives here too, so every layer writes CSV alike.

use anyhow::{Context, Result};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use tempfile::NamedTempFile;

/// The one CSV dialect of every output: comma, `\n` line ends, RFC 4180 quoting (only when
/// needed, `"` doubled), UTF-8 without BOM. Headers are written explicitly by the callers.
pub fn csv_writer_builder() -> csv::WriterBuilder {
    let mut b = csv::WriterBuilder::new();
    b.delimiter(b',')
        .terminator(csv::Terminator::Any(b'\n'))
        .quote_style(csv::QuoteStyle::Necessary)
        .double_quote(true)
        .has_headers(false);
    b
}

/// Writes a CSV report atomically: `header`, then one record per item of `rows`. A row is
/// anything serde can write as one record: `Vec<String>`, a tuple, or a struct (its field
/// values, in order; the struct's names are not used, `header` is). Returns the row count.
pub fn write_csv_atomic<S: serde::Serialize>(
    path: &Path,
    header: &[&str],
    rows: impl IntoIterator<Item = S>,
) -> Result<u64> {
    let dir = parent_dir(path);
    let mut writer = csv_writer_builder().from_writer(temp_in(dir, &file_name(path))?);
    let err = || format!("failed to write `{}`", path.display());
    writer.write_record(header).with_context(err)?;
    let mut n = 0;
    for row in rows {
        writer.serialize(row).with_context(err)?;
        n += 1;
    }
    let file = writer
        .into_inner()
        .map_err(|e| anyhow::anyhow!("{}", e.error()))
        .with_context(err)?;
    file.as_file().sync_all().with_context(err)?;
    persist(file, path)?;
    Ok(n)
}

/// Writes pretty-printed JSON (with a trailing newline) atomically.
pub fn write_json_atomic<T: serde::Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let err = || format!("failed to write `{}`", path.display());
    // Buffered: the serializer writes a token at a time (one system call each
    // unbuffered: most of a report's time on a large summary.json).
    let mut out = std::io::BufWriter::with_capacity(1 << 16, temp_in(parent_dir(path), &file_name(path))?);
    serde_json::to_writer_pretty(&mut out, value).with_context(err)?;
    out.write_all(b"\n").with_context(err)?;
    let file = out
        .into_inner()
        .map_err(|e| anyhow::anyhow!("{}", e.error()))
        .with_context(err)?;
    file.as_file().sync_all().with_context(err)?;
    persist(file, path)
}

pub fn temp_in(dir: &Path, name: &str) -> Result<NamedTempFile> {
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("failed to create a temp file in `{}`", dir.display()))
}

pub fn persist(file: NamedTempFile, path: &Path) -> Result<()> {
    let _: File = file
        .persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("failed to write `{}`", path.display()))?;
    Ok(())
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| "out".to_string(), |n| n.to_string_lossy().into_owned())
}
