//! The one CSV dialect ([`csv_writer_builder`]) and the [`Records`] / [`Row`] API through
//! which every format writes its cells (on [`csv::Writer`], one reused [`csv::ByteRecord`]).

use crate::model::{Amount, PlainBuf};
use rust_decimal::Decimal;
use std::io::Write;

pub use crate::files::csv_writer_builder;

/// A CSV output of a format: file name and exact header.
pub(crate) struct CsvFile {
    pub name: &'static str,
    pub header: &'static [&'static str],
}

/// The CSV text a format produces, one [`csv::Writer`] per output file of the format, in the
/// [`csv_writer_builder`] dialect. Each writer writes into memory; [`Output::flush`] hands
/// the text to the temp files in chunks. One [`csv::ByteRecord`] is reused for every record.
pub(crate) struct Records {
    /// One writer per file (index into the format's `FILES`); its `Vec` is the text not yet
    /// on disk.
    writers: Vec<csv::Writer<Vec<u8>>>,
    /// The record being built by a [`Row`].
    record: csv::ByteRecord,
    /// The records appended since the caller last cleared this.
    pub spans: Vec<Span>,
    pub widths: Vec<usize>,
    /// The first error a writer reported (a record unlike the header), taken by the caller.
    pub error: Option<csv::Error>,
    /// Per asset, how much the format's rounding of the current row changes the balance
    /// its tool derives (rounded − exact, signed as a balance change); cleared per row.
    pub rounding: Vec<(String, Decimal)>,
    /// The current row's amounts, formatted once for all formats ([`Prep::texts`]).
    pub texts: Texts,
    /// Flush every record into its `Vec` so [`Span`] `start..end` locate its text (tests).
    /// Otherwise the csv writer's own buffer fills the `Vec` in blocks and spans only count.
    pub per_record: bool,
}

/// The plain text of a few decimals (a row's amounts and price), looked up by exact value.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Texts {
    entries: [TextEntry; 4],
    len: usize,
}

#[derive(Debug, Clone, Copy)]
struct TextEntry {
    bits: [u8; 16],
    len: u8,
    text: [u8; 40],
}

impl Default for TextEntry {
    fn default() -> TextEntry {
        TextEntry {
            bits: [0; 16],
            len: 0,
            text: [0; 40],
        }
    }
}

impl Texts {
    /// Remembers the text of `d` (ignored when full or too long).
    pub(crate) fn add(&mut self, d: Decimal) {
        let bits = d.serialize();
        if self.len == self.entries.len() || self.entries[..self.len].iter().any(|e| e.bits == bits) {
            return;
        }
        let mut buf = PlainBuf::new();
        let text = buf.format(d).as_bytes();
        let e = &mut self.entries[self.len];
        if text.len() <= e.text.len() {
            e.bits = bits;
            e.len = text.len() as u8;
            e.text[..text.len()].copy_from_slice(text);
            self.len += 1;
        }
    }

    /// The remembered text of `d` (same bits: same text as [`PlainBuf::format`]).
    #[inline]
    pub(crate) fn get(&self, d: Decimal) -> Option<&[u8]> {
        let bits = d.serialize();
        self.entries[..self.len]
            .iter()
            .find(|e| e.bits == bits)
            .map(|e| &e.text[..usize::from(e.len)])
    }
}

/// Where one record landed in the text of its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub file: usize,
    pub start: usize,
    /// End of the record, after its `\n`.
    pub end: usize,
    pub cells: usize,
}

impl Records {
    pub fn new(files: &[CsvFile]) -> Records {
        Records {
            writers: files
                .iter()
                .map(|_| csv_writer_builder().from_writer(Vec::new()))
                .collect(),
            record: csv::ByteRecord::new(),
            spans: Vec::new(),
            widths: files.iter().map(|f| f.header.len()).collect(),
            error: None,
            rounding: Vec::new(),
            texts: Texts::default(),
            per_record: false,
        }
    }

    /// Starts a record of output file `file`; [`Row::end`] finishes it.
    #[inline]
    pub fn row(&mut self, file: usize) -> Row<'_> {
        self.record.clear();
        Row { recs: self, file }
    }

    /// The text written to file `file` and not yet drained.
    #[cfg(test)]
    pub fn text(&self, file: usize) -> &[u8] {
        self.writers[file].get_ref()
    }

    /// Writes the text of file `file` to `sink` once it is at least `min` bytes (and not
    /// empty), then starts the file's writer again on the emptied buffer.
    pub(crate) fn drain(&mut self, file: usize, min: usize, sink: &mut impl Write) -> std::io::Result<()> {
        if min > 0 && self.writers[file].get_ref().len() < min {
            return Ok(());
        }
        // `csv::Writer` lends its sink only by value (and flushes into it on the way).
        let writer = std::mem::replace(
            &mut self.writers[file],
            csv_writer_builder().from_writer(Vec::new()),
        );
        let mut text = writer.into_inner().map_err(csv::IntoInnerError::into_error)?;
        sink.write_all(&text)?;
        text.clear();
        self.writers[file] = csv_writer_builder().from_writer(text);
        Ok(())
    }
}

/// One record being written: cells in order, then [`Row::end`].
#[must_use = "a row is only complete after `end()`"]
pub(crate) struct Row<'r> {
    recs: &'r mut Records,
    file: usize,
}

impl Row<'_> {
    /// A text cell (the csv writer quotes it when needed).
    #[inline]
    pub fn s(self, v: &str) -> Self {
        self.recs.record.push_field(v.as_bytes());
        self
    }

    /// The text, or an empty cell.
    #[inline]
    pub fn opt(self, v: Option<&str>) -> Self {
        self.s(v.unwrap_or_default())
    }

    /// `n` empty cells.
    #[inline]
    pub fn empty(self, n: usize) -> Self {
        for _ in 0..n {
            self.recs.record.push_field(b"");
        }
        self
    }

    /// An amount cell: plain decimal, no exponent, no trailing zeros, never negative.
    #[inline]
    pub fn amt(self, d: Decimal) -> Self {
        debug_assert!(!d.is_sign_negative() || d.is_zero(), "negative amount {d}");
        self.dec(d.abs())
    }

    /// An optional amount cell.
    #[inline]
    pub fn opt_amt(self, d: Option<Decimal>) -> Self {
        match d {
            Some(d) => self.amt(d),
            None => self.empty(1),
        }
    }

    /// A signed decimal in plain notation (prices).
    pub fn dec(self, d: Decimal) -> Self {
        let recs = &mut *self.recs;
        match recs.texts.get(d) {
            Some(known) => recs.record.push_field(known),
            None => recs.record.push_field(PlainBuf::new().format(d).as_bytes()),
        }
        self
    }

    /// The amount and asset cells of an optional amount (two empty cells for none).
    #[inline]
    pub fn amt_asset(self, a: Option<&Amount>) -> Self {
        match a {
            Some(a) => self.amt(a.amount).s(&a.asset),
            None => self.empty(2),
        }
    }

    /// The asset and amount cells of an optional amount (two empty cells for none).
    #[inline]
    pub fn asset_amt(self, a: Option<&Amount>) -> Self {
        match a {
            Some(a) => self.s(&a.asset).amt(a.amount),
            None => self.empty(2),
        }
    }

    /// Ends the record and hands it to the file's csv writer. (A width unlike the header's
    /// is an error of [`ExportWriter::write`], found from the span.)
    pub fn end(self) {
        let Row { recs, file } = self;
        let cells = recs.record.len();
        debug_assert_eq!(cells, recs.widths[file], "record width must match the header");
        let writer = &mut recs.writers[file];
        let start = writer.get_ref().len();
        let mut written = writer.write_byte_record(&recs.record);
        if recs.per_record && written.is_ok() {
            // Makes the record's text visible at `start..end` at once (tests read it back).
            written = writer.flush().map_err(csv::Error::from);
        }
        if let Err(e) = written {
            recs.error.get_or_insert(e);
        }
        recs.spans.push(Span {
            file,
            start,
            end: writer.get_ref().len(),
            cells,
        });
    }
}
