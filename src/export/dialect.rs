//! The one CSV dialect ([`csv_writer_builder`]) and the [`Records`] / [`Row`] API through
//! which every format writes its cells, straight into each file's text ([`push_cell`]: the
//! dialect's quoting, the same bytes as the csv crate's writer, which a test holds it to).

use crate::model::{Amount, PlainBuf};
use rust_decimal::Decimal;
use std::io::Write;

pub use crate::files::csv_writer_builder;

/// A CSV output of a format: file name and exact header.
pub(crate) struct CsvFile {
    pub name: &'static str,
    pub header: &'static [&'static str],
}

/// The CSV text a format produces, one text per output file of the format, in the
/// [`csv_writer_builder`] dialect; the export writer hands it to the temp files in chunks.
pub(crate) struct Records {
    /// One text per file (index into the format's `FILES`): the records not yet on disk.
    out: Vec<Vec<u8>>,
    /// The cells of the record being built by a [`Row`], and where its text starts.
    cells: usize,
    start: usize,
    /// The records appended since the caller last cleared this.
    pub spans: Vec<Span>,
    pub widths: Vec<usize>,
    /// Per asset, how much the format's rounding of the current row changes the balance
    /// its tool derives (rounded − exact, signed as a balance change); cleared per row.
    pub rounding: Vec<(String, Decimal)>,
    /// The current row's amounts, formatted once for all formats ([`Prep::texts`]).
    pub texts: Texts,
}

/// Appends one cell to a record's text as the csv crate's writer does in the
/// [`csv_writer_builder`] dialect: quoted (with `"` doubled) only when it holds a comma, a
/// quote or a line break. Writing cells here rather than through [`csv::Writer`] and its
/// record buffer was a third of the writer thread's instructions.
#[inline]
pub(crate) fn push_cell(out: &mut Vec<u8>, cell: &[u8]) {
    // One pass without an early exit: cells are short, and a branch per byte costs more.
    if cell.iter().fold(false, |q, &b| q | QUOTED[usize::from(b)]) {
        quote_cell(out, cell);
    } else {
        out.extend_from_slice(cell);
    }
}

/// The bytes that make a cell quoted.
static QUOTED: [bool; 256] = {
    let mut t = [false; 256];
    t[b',' as usize] = true;
    t[b'"' as usize] = true;
    t[b'\r' as usize] = true;
    t[b'\n' as usize] = true;
    t
};

/// A cell in quotes, each `"` in it doubled (RFC 4180; rare in our files).
#[cold]
fn quote_cell(out: &mut Vec<u8>, cell: &[u8]) {
    out.push(b'"');
    for piece in cell.split_inclusive(|&b| b == b'"') {
        out.extend_from_slice(piece);
        if piece.last() == Some(&b'"') {
            out.push(b'"');
        }
    }
    out.push(b'"');
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
            out: files.iter().map(|_| Vec::new()).collect(),
            cells: 0,
            start: 0,
            spans: Vec::new(),
            widths: files.iter().map(|f| f.header.len()).collect(),
            rounding: Vec::new(),
            texts: Texts::default(),
        }
    }

    /// Starts a record of output file `file`; [`Row::end`] finishes it.
    #[inline]
    pub fn row(&mut self, file: usize) -> Row<'_> {
        self.cells = 0;
        self.start = self.out[file].len();
        Row { recs: self, file }
    }

    /// The text written to file `file` and not yet drained.
    #[cfg(test)]
    pub fn text(&self, file: usize) -> &[u8] {
        &self.out[file]
    }

    /// Writes the text of file `file` to `sink` once it is at least `min` bytes (and not
    /// empty), then empties it.
    pub(crate) fn drain(&mut self, file: usize, min: usize, sink: &mut impl Write) -> std::io::Result<()> {
        let text = &mut self.out[file];
        if text.is_empty() || text.len() < min {
            return Ok(());
        }
        sink.write_all(text)?;
        text.clear();
        Ok(())
    }
}

/// Appends cell number `cells` (then counted) of a record: its separator and its text.
#[inline]
fn put(out: &mut Vec<u8>, cells: &mut usize, v: &[u8]) {
    if *cells > 0 {
        out.push(b',');
    }
    *cells += 1;
    push_cell(out, v);
}

/// One record being written: cells in order, then [`Row::end`].
#[must_use = "a row is only complete after `end()`"]
pub(crate) struct Row<'r> {
    recs: &'r mut Records,
    file: usize,
}

impl Row<'_> {
    /// A text cell (quoted when needed).
    #[inline]
    pub fn s(self, v: &str) -> Self {
        self.cell(v.as_bytes())
    }

    #[inline]
    fn cell(self, v: &[u8]) -> Self {
        let recs = &mut *self.recs;
        put(&mut recs.out[self.file], &mut recs.cells, v);
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
        let recs = &mut *self.recs;
        for _ in 0..n {
            put(&mut recs.out[self.file], &mut recs.cells, b"");
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
        let out = &mut recs.out[self.file];
        match recs.texts.get(d) {
            Some(known) => put(out, &mut recs.cells, known),
            None => put(out, &mut recs.cells, PlainBuf::new().format(d).as_bytes()),
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

    /// Ends the record. (A width unlike the header's is an error of
    /// [`ExportWriter::write`], found from the span.)
    ///
    /// [`ExportWriter::write`]: super::ExportWriter::write
    pub fn end(self) {
        let Row { recs, file } = self;
        let cells = recs.cells;
        debug_assert_eq!(cells, recs.widths[file], "record width must match the header");
        let out = &mut recs.out[file];
        // The csv crate writes a record of one empty cell as `""` (an empty line would be
        // no record at all).
        if cells == 1 && out.len() == recs.start {
            out.extend_from_slice(b"\"\"");
        }
        out.push(b'\n');
        recs.spans.push(Span {
            file,
            start: recs.start,
            end: out.len(),
            cells,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The csv crate's writer in the dialect, for one record.
    fn by_csv(cells: &[String]) -> Vec<u8> {
        let mut w = csv_writer_builder().from_writer(Vec::new());
        w.write_record(cells).unwrap();
        w.into_inner().unwrap()
    }

    fn by_rows(cells: &[String]) -> (Vec<u8>, Span) {
        let header: &'static [&'static str] = Box::leak(vec!["c"; cells.len()].into_boxed_slice());
        let mut recs = Records::new(&[CsvFile {
            name: "t.csv",
            header,
        }]);
        let mut row = recs.row(0);
        for c in cells {
            row = row.s(c);
        }
        row.end();
        (recs.text(0).to_vec(), recs.spans[0])
    }

    #[test]
    fn cells_are_quoted_like_the_csv_crate() {
        for cells in [
            vec![String::new()],
            vec![String::new(), String::new()],
            vec!["a,b".into(), "say \"hi\"".into(), "x\r\ny".into(), " pad ".into()],
            vec!["\"".into(), "\"\"".into(), "a\"".into(), "é,ü".into()],
        ] {
            assert_eq!(by_rows(&cells).0, by_csv(&cells), "{cells:?}");
        }
    }

    proptest! {
        /// Any cells, including the bytes that need quotes, give the csv crate's bytes, and
        /// the span covers the record.
        #[test]
        fn any_record_is_written_like_the_csv_crate(
            cells in proptest::collection::vec("[a-z0-9 ,\"\r\n.é-]{0,12}", 1..8)
        ) {
            let (text, span) = by_rows(&cells);
            prop_assert_eq!(&text, &by_csv(&cells));
            prop_assert_eq!((span.start, span.end, span.cells), (0, text.len(), cells.len()));
        }
    }
}
