//! `report.html` (issue 21): the report as one self-contained page that a person opens in
//! any browser, prints, or mails to an accountant. It is a function of the
//! [`ReportOutcome`] alone (the same value `summary.json` and the console render), so a
//! report of one store or of several merged renders the same way.
//!
//! | file | concern |
//! |---|---|
//! | `view.rs` | data assembly: the outcome's numbers grouped for the page (no recomputation) |
//! | `svg.rs` | the charts, as inline SVG |
//! | `page.rs` | the markup, one function per section ([maud]) |
//! | `totals.rs` | the sections of `tax-summary.csv`'s lines (income, derivatives, fees, disposals) |
//! | `guide.rs` | what each file is and how to import it |
//! | `cells.rs` | a fiat value cell and a number cell |
//! | `style.css`, `script.js` | inlined as they are |
//!
//! The page loads nothing: CSS and the small script are inline, charts are SVG, and a
//! `Content-Security-Policy` allows only that inline style and script (by hash) and
//! forbids every other load. It reads fully without the script (which only adds
//! expand/collapse buttons and opens the collapsed parts for printing).

mod cells;
mod guide;
mod page;
mod svg;
mod totals;
mod view;

use super::ReportOutcome;
use anyhow::{Context, Result};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::io::Write as _;
use std::path::PathBuf;

/// The file name.
pub const FILE_NAME: &str = "report.html";

/// The page style, shared with the fleet page ([`crate::fleet::html`]).
pub const CSS: &str = include_str!("style.css");
/// The page script (expand/collapse), shared with the fleet page.
pub const JS: &str = include_str!("script.js");

fn sha256_source(text: &str) -> String {
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
    )
}

/// The page's Content-Security-Policy: nothing may load but the inline style and script.
pub fn csp() -> String {
    format!(
        "default-src 'none'; style-src {}; script-src {}; img-src 'none'; connect-src 'none'; font-src 'none'; base-uri 'none'; form-action 'none'",
        sha256_source(CSS),
        sha256_source(JS)
    )
}

/// The page of `o`.
pub fn render(o: &ReportOutcome) -> String {
    page::page(o, CSS, JS, &csp()).into_string()
}

/// Writes `<out>/report.html` (temp file, then renamed into place); returns its path.
pub fn write(o: &ReportOutcome) -> Result<PathBuf> {
    let path = o.out.join(FILE_NAME);
    let err = || format!("failed to write `{}`", path.display());
    let mut file = tempfile::Builder::new()
        .prefix(".report.html.")
        .tempfile_in(&o.out)
        .with_context(err)?;
    file.write_all(render(o).as_bytes()).with_context(err)?;
    file.as_file().sync_all().with_context(err)?;
    file.persist(&path).map_err(|e| e.error).with_context(err)?;
    Ok(path)
}
