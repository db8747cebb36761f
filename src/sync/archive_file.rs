//! Reading a downloaded quarterly archive file: detect zip, gzip or plain CSV by its magic
//! bytes, decompress as a stream into the CSV parser and hand out the bills in batches.
//!
//! Nothing holds the whole file: the download is on disk (a private temporary file in the
//! data directory), the decompressor and the CSV reader pull from it, and records go to
//! the store a batch at a time. Two caps stop a hostile file (issue 7): the total size it
//! expands to, and the length of one line (an archive row is a few hundred bytes; a
//! "line" of gigabytes would otherwise be buffered whole by the CSV reader).
//!
//! Money fields are checked like those of JSON bills ([`super::money`]): a row whose
//! `balChg`/`bal` is missing, or whose `balChg`, `bal`, `sz`, `px`, `pnl`, `fee`, … is
//! `""` where required, `NaN`, `abc` or in exponent form refuses the whole file, naming the
//! row's line, billId and field. So that nothing of a refused file is stored, the file is
//! read twice: a checking pass over every row, then the storing pass. The second read of the
//! local temporary file costs CPU only (no second download); a file is checked in full
//! before its first batch reaches the store.

use crate::store::{NewRecord, RecordKind};
use anyhow::{Context, Result, bail};
use std::io::{BufReader, Read, Seek, SeekFrom};

/// Default cap on the downloaded (compressed) file.
pub const DEFAULT_MAX_DOWNLOAD: u64 = 512 << 20;
/// Default cap on what the file expands to.
pub const DEFAULT_MAX_EXPANDED: u64 = 4 << 30;
/// Longest line accepted in an archive CSV.
pub const MAX_LINE: u64 = 1 << 20;
/// Records handed to the store per batch.
pub const BATCH: usize = 5_000;

/// Size caps for archive files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveLimits {
    pub max_download: u64,
    pub max_expanded: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            max_download: DEFAULT_MAX_DOWNLOAD,
            max_expanded: DEFAULT_MAX_EXPANDED,
        }
    }
}

/// The error a capped reader returns; found again in the chain to name the cap.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveTooLarge {
    #[error(
        "the archive expands to more than {} MiB; refusing it (raise `--archive-max-expanded` if a real archive is this large)",
        .0 >> 20
    )]
    Expanded(u64),
    #[error("the archive has a line longer than {} KiB; it is not an OKX bills CSV", .0 >> 10)]
    Line(u64),
}

/// A reader that fails once more than `max` bytes came through, or a line grows past
/// `max_line`.
struct Capped<R> {
    inner: R,
    total: u64,
    line: u64,
    max: u64,
    max_line: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.total += n as u64;
        if self.total > self.max {
            return Err(std::io::Error::other(ArchiveTooLarge::Expanded(self.max)));
        }
        let got = &buf[..n];
        let too_long = || std::io::Error::other(ArchiveTooLarge::Line(self.max_line));
        match (memchr::memchr(b'\n', got), memchr::memrchr(b'\n', got)) {
            (Some(first), Some(last)) => {
                if self.line + first as u64 > self.max_line {
                    return Err(too_long());
                }
                // Lines wholly inside this chunk are shorter than the chunk; only a chunk
                // larger than the line cap needs them measured.
                if n as u64 > self.max_line {
                    let mut prev = first;
                    for nl in memchr::memchr_iter(b'\n', &got[first + 1..]) {
                        let nl = first + 1 + nl;
                        if (nl - prev - 1) as u64 > self.max_line {
                            return Err(too_long());
                        }
                        prev = nl;
                    }
                }
                self.line = (n - last - 1) as u64;
            }
            _ => self.line += n as u64,
        }
        if self.line > self.max_line {
            return Err(too_long());
        }
        Ok(n)
    }
}

fn capped<'a, R: Read + 'a>(inner: R, max: u64) -> Box<dyn Read + 'a> {
    Box::new(Capped {
        inner,
        total: 0,
        line: 0,
        max,
        max_line: MAX_LINE,
    })
}

/// Reads an archive file (zip, gzip or CSV) and calls `on_batch` with up to [`BATCH`]
/// bill records at a time, after a first pass has checked every row: a bad row fails
/// before `on_batch` is ever called. Returns the number of rows.
pub fn read_archive<F: Read + Seek>(
    mut file: F,
    max_expanded: u64,
    on_batch: &mut dyn FnMut(Vec<NewRecord>) -> Result<()>,
) -> Result<u64> {
    read_pass(&mut file, max_expanded, &mut |_| Ok(()))?;
    read_pass(&mut file, max_expanded, on_batch)
}

/// One pass over the file.
fn read_pass<F: Read + Seek>(
    mut file: F,
    max_expanded: u64,
    on_batch: &mut dyn FnMut(Vec<NewRecord>) -> Result<()>,
) -> Result<u64> {
    let mut magic = [0u8; 4];
    file.seek(SeekFrom::Start(0))?;
    let got = read_up_to(&mut file, &mut magic)?;
    file.seek(SeekFrom::Start(0))?;
    let magic = &magic[..got];
    if magic.starts_with(b"PK\x03\x04") {
        let mut zip = zip::ZipArchive::new(file).context("bad zip archive")?;
        let index = (0..zip.len())
            .find(|&i| {
                zip.by_index_raw(i)
                    .is_ok_and(|f| f.is_file() && f.name().to_ascii_lowercase().ends_with(".csv"))
            })
            .context("the zip archive holds no .csv file")?;
        let entry = zip.by_index(index).context("bad zip archive")?;
        if entry.size() > max_expanded {
            return Err(ArchiveTooLarge::Expanded(max_expanded).into());
        }
        parse_csv(capped(entry, max_expanded), on_batch)
    } else if magic.starts_with(&[0x1f, 0x8b]) {
        let gz = flate2::read::MultiGzDecoder::new(BufReader::new(file));
        parse_csv(capped(gz, max_expanded), on_batch)
    } else {
        parse_csv(capped(file, max_expanded), on_batch)
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Turns an io error that carries [`ArchiveTooLarge`] back into it, so the message names
/// the cap instead of "bad CSV row".
fn csv_error(e: csv::Error, row: u64) -> anyhow::Error {
    if let csv::ErrorKind::Io(io) = e.kind()
        && let Some(cap) = io.get_ref().and_then(|c| c.downcast_ref::<ArchiveTooLarge>())
    {
        return anyhow::anyhow!("{cap}");
    }
    if let csv::ErrorKind::Utf8 { .. } = e.kind() {
        return anyhow::anyhow!("archive row {row} is not UTF-8 text");
    }
    anyhow::anyhow!("bad CSV row {row} in archive: {e}")
}

fn parse_csv(
    input: Box<dyn Read + '_>,
    on_batch: &mut dyn FnMut(Vec<NewRecord>) -> Result<()>,
) -> Result<u64> {
    // The csv crate strips a leading UTF-8 BOM itself.
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| csv_error(e, 1))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    // An empty or cut-off download, or another kind of file, must not pass for a quarter
    // without bills: only a CSV whose header names `billId` is read.
    if !headers.iter().any(|h| h == "billId") {
        bail!(
            "the archive file is not an OKX bills CSV (no `billId` column in its first line); it is downloaded again on the next run"
        );
    }
    let mut row = csv::StringRecord::new();
    let mut batch = Vec::with_capacity(BATCH);
    let mut n = 0u64;
    loop {
        let line = n + 2;
        if !rdr.read_record(&mut row).map_err(|e| csv_error(e, line))? {
            break;
        }
        n += 1;
        batch.push(to_bill(&headers, &row, line)?);
        if batch.len() == BATCH {
            on_batch(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))?;
        }
    }
    if !batch.is_empty() {
        on_batch(batch)?;
    }
    Ok(n)
}

fn to_bill(headers: &[String], row: &csv::StringRecord, line: u64) -> Result<NewRecord> {
    let mut obj = serde_json::Map::new();
    for (h, v) in headers.iter().zip(row.iter()) {
        obj.insert(h.clone(), serde_json::Value::String(v.to_string()));
    }
    let field = |name: &str| obj.get(name).and_then(|v| v.as_str()).filter(|s| !s.is_empty());
    let Some(bill_id) = field("billId").map(str::to_string) else {
        bail!("archive row {line} has no billId");
    };
    let ts = field("ts").and_then(|s| s.parse().ok()).unwrap_or(0);
    let value = serde_json::Value::Object(obj);
    if let Err(bad) = super::money::check(RecordKind::Bill, &value) {
        bail!("archive row {line} (billId {bill_id}): {bad}; nothing of this file is stored");
    }
    Ok(NewRecord {
        kind: RecordKind::Bill,
        num: bill_id.parse().ok(),
        key: bill_id,
        ts_ms: ts,
        link: None,
        raw: value.to_string(),
    })
}

/// Parses a whole archive held in memory (tests and small callers).
pub fn parse_archive(bytes: &[u8]) -> Result<Vec<NewRecord>> {
    let mut out = Vec::new();
    read_archive(std::io::Cursor::new(bytes), DEFAULT_MAX_EXPANDED, &mut |b| {
        out.extend(b);
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;
    use std::io::Write;

    const CSV: &str = "instType,billId,subType,ts,balChg,posBalChg,bal,posBal,sz,px,ccy,pnl,fee,mgnMode,instId,ordId,execType,interest,tag,fillTime,tradeId,clOrdId,fillIdxPx,fillMarkPx,fillPxVol,fillPxUsd,fillMarkVol,fillFwdPx\nSPOT,700,1,1720000000000,0.5,0,1.5,0,0.5,100,BTC,0,0,cash,BTC-USDT,1,T,0,,1720000000000,9,,,,,,,\nSPOT,699,2,1719999999999,-50,0,50,0,50,100,USDT,0,0,cash,BTC-USDT,1,T,0,,1720000000000,9,,,,,,,\n";

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    }

    fn zip(data: &[u8]) -> Vec<u8> {
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut zw = zip::ZipWriter::new(&mut buf);
            let opts =
                zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
            zw.start_file("bills.csv", opts).unwrap();
            zw.write_all(data).unwrap();
            zw.finish().unwrap();
        }
        buf.into_inner()
    }

    #[test]
    fn archive_formats_are_sniffed() {
        let plain = parse_archive(CSV.as_bytes()).unwrap();
        assert_eq!(plain.len(), 2);
        assert_eq!(plain[0].key, "700");
        assert!(plain[0].raw.contains("\"balChg\":\"0.5\""));
        assert_eq!(parse_archive(&gzip(CSV.as_bytes())).unwrap().len(), 2);
        let z = parse_archive(&zip(CSV.as_bytes())).unwrap();
        assert_eq!(z.len(), 2);
        assert_eq!(z[1].ts_ms, 1_719_999_999_999);
        let bom = format!("\u{feff}{CSV}");
        assert_eq!(parse_archive(bom.as_bytes()).unwrap()[0].key, "700");
    }

    #[test]
    fn batches_cover_every_row() {
        let mut csv = String::from("billId,ts,balChg,bal\n");
        for i in 0..(BATCH * 2 + 7) {
            writeln!(csv, "{i},{},1,{i}", 1_700_000_000_000u64 + i as u64).unwrap();
        }
        let mut sizes = Vec::new();
        let n = read_archive(
            std::io::Cursor::new(gzip(csv.as_bytes())),
            DEFAULT_MAX_EXPANDED,
            &mut |b| {
                sizes.push(b.len());
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(n, (BATCH * 2 + 7) as u64);
        assert_eq!(sizes, [BATCH, BATCH, 7]);
    }

    /// A small file that expands past the cap stops with the cap's message, for each of
    /// the three formats, before expanding further.
    #[test]
    fn expansion_is_capped() {
        let mut big = String::from("billId,ts\n");
        big.push_str(&"\n".repeat(3 << 20));
        let cap = 1 << 20;
        for (name, bytes) in [
            ("plain", big.clone().into_bytes()),
            ("gzip", gzip(big.as_bytes())),
            ("zip", zip(big.as_bytes())),
        ] {
            let err = read_archive(std::io::Cursor::new(bytes), cap, &mut |_| Ok(()))
                .unwrap_err()
                .to_string();
            assert!(err.contains("expands to more than 1 MiB"), "{name}: {err}");
        }
    }

    #[test]
    fn endless_line_is_refused() {
        let mut data = String::from("billId,ts\n1,");
        data.push_str(&"9".repeat((MAX_LINE + 10) as usize));
        let err = read_archive(
            std::io::Cursor::new(gzip(data.as_bytes())),
            DEFAULT_MAX_EXPANDED,
            &mut |_| Ok(()),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("line longer than 1024 KiB"), "{err}");
    }

    /// An empty (or header-less) file is an error, never a quarter without bills; a header
    /// alone is a quarter without bills.
    #[test]
    fn empty_file_is_not_an_empty_quarter() {
        for bytes in [Vec::new(), gzip(b""), b"hello,world\n1,2\n".to_vec()] {
            let err = parse_archive(&bytes).unwrap_err().to_string();
            assert!(err.contains("not an OKX bills CSV"), "{err}");
        }
        assert_eq!(parse_archive(b"billId,ts\n").unwrap().len(), 0);
    }

    #[test]
    fn row_without_bill_id_names_its_line() {
        let err = parse_archive(b"billId,ts,balChg,bal\n5,1,1,1\n,2,1,1\n")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "archive row 3 has no billId");
    }

    /// Issue 8 item 6: a bad money field in any row refuses the file, naming line, billId and
    /// field, and no batch (not even the rows before it) reaches the store.
    #[test]
    fn bad_money_field_refuses_the_whole_file() {
        let mut good = String::from("billId,ts,balChg,bal,sz,fee,pnl\n");
        for i in 0..(BATCH + 3) {
            writeln!(good, "{i},{},1.5,{i},1.5,0,", 1_700_000_000_000u64 + i as u64).unwrap();
        }
        let line = BATCH + 5; // header is line 1, rows start at line 2
        let cases: [(&str, &str, &str); 7] = [
            ("balChg", "", "9,1,,1,1,0,"),
            ("balChg", "NaN", "9,1,NaN,1,1,0,"),
            ("bal", "abc", "9,1,1,abc,1,0,"),
            ("balChg", "1e5", "9,1,1e5,1,1,0,"),
            ("sz", "1E2", "9,1,1,1,1E2,0,"),
            ("fee", "-1e-4", "9,1,1,1,1,-1e-4,"),
            ("pnl", "abc", "9,1,1,1,1,0,abc"),
        ];
        for (field, value, row) in cases {
            let mut csv = good.clone();
            writeln!(csv, "{row}").unwrap();
            let mut batches = 0;
            let err = read_archive(
                std::io::Cursor::new(gzip(csv.as_bytes())),
                DEFAULT_MAX_EXPANDED,
                &mut |_| {
                    batches += 1;
                    Ok(())
                },
            )
            .unwrap_err()
            .to_string();
            assert_eq!(batches, 0, "{field}={value}: nothing stored");
            let want =
                format!("archive row {line} (billId 9): field `{field}` is `{value}`, not a plain decimal");
            assert!(err.starts_with(&want), "{err}");
        }
        let mut missing = String::from("billId,ts,bal\n");
        missing.push_str("3,1,1\n");
        let err = parse_archive(missing.as_bytes()).unwrap_err().to_string();
        assert!(
            err.starts_with("archive row 2 (billId 3): field `balChg` is missing"),
            "{err}"
        );
    }
}
