//! The rows step of a report: every row of the period normalized, valued, booked in the
//! tax summary and written to every format, on two threads (this one reads, normalizes
//! and values; the other writes and books), a bounded batch at a time.

use super::{Period, ReportAccount, ReportRequest, merge};
use crate::export::{ExportOptions, ExportReport, ExportWriter, Staged, TaxSummary};
use crate::normalize::{AccountScope, NormalizeOptions, NormalizeSummary, normalize};
use crate::prices::Valuer;
use crate::reconcile::closing::Holding;
use crate::store::Store;
use anyhow::Result;
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

/// What writing the rows produced.
pub(super) struct RowsWritten {
    /// The report's rows together (for one account: its own).
    pub(super) normalized: NormalizeSummary,
    /// Each account's own.
    pub(super) per_account: Vec<NormalizeSummary>,
    pub(super) exported: ExportReport,
    /// The files of `exported`, complete but neither on disk nor in place yet: read back,
    /// then synced and renamed (taken by [`super::run`]).
    pub(super) staged: Option<Staged>,
    pub(super) tax: TaxSummary,
    pub(super) opening: Option<(DateTime<Utc>, Vec<Holding>)>,
    pub(super) valued: u64,
    pub(super) unvalued: u64,
    pub(super) pending: u64,
}

/// Values every row of the period and writes it to every format. The valuer sees rows in
/// time order: the opening holdings (at the period's start) first, then the period's rows
/// (the closing holdings come after, in [`super::run::run_accounts`]). A group's rows come merged in
/// time order ([`merge`]), each id prefixed with its profile (`bot/fb-123`).
///
/// This thread normalizes and values the rows; another writes them to every format and
/// books them in the tax summary ([`write_batches`]), in the same order, a batch at a time:
/// at most [`BATCHES_IN_FLIGHT`] × [`BATCH_ROWS`] rows are in flight, so memory stays flat.
pub(super) fn write_rows<'p>(
    accounts: &[ReportAccount<'p>],
    group: bool,
    scopes: &[AccountScope],
    req: &ReportRequest,
    valuer: &mut dyn Valuer,
    opening: Option<(DateTime<Utc>, Vec<Holding>)>,
) -> Result<RowsWritten> {
    let Period { from, to, tz } = req.period;
    let writer = ExportWriter::create(
        &req.out,
        &req.formats,
        ExportOptions {
            tz,
            fiat: valuer.fiat().clone(),
            profile_column: group,
            ..ExportOptions::default()
        },
    )?;
    let (mut valued, mut unvalued, mut pending) = (0u64, 0u64, 0u64);
    let mut tax = TaxSummary::with_detail(tz);
    if let Some((start, holdings)) = &opening {
        tax.add_holdings(holdings, *start, false, valuer)?;
    }
    let opts = |scope: &AccountScope, store: &Store| -> Result<NormalizeOptions> {
        let names = crate::normalize::codes::BillNames::new(&store.bill_types()?);
        Ok(NormalizeOptions {
            from,
            to,
            names: (!names.is_empty()).then(|| std::sync::Arc::new(names)),
            accounts: scope.clone(),
        })
    };
    let (per_account, (exported, staged, tax)) = std::thread::scope(|scope| -> Result<_> {
        let (send, receive) = std::sync::mpsc::sync_channel::<Batch<'p>>(BATCHES_IN_FLIGHT);
        // Written batches come back to be emptied here: their rows were allocated on this
        // thread, and freeing them here spares the allocator a free across threads.
        let (give_back, written) = std::sync::mpsc::channel::<Vec<Booking<'p>>>();
        // The writer also books each row in the tax summary: this thread, which reads,
        // normalizes and values the rows, is the longer of the two.
        let booker = scope.spawn(move || write_batches(&receive, writer, tax, &give_back));
        let mut batch: Vec<Booking<'p>> = Vec::with_capacity(BATCH_ROWS);
        let mut sink = |profile: &'p str, mut tx: crate::model::Transaction| {
            if group {
                tx.id = format!("{profile}/{}", tx.id);
            }
            let value = valuer.value(&tx)?;
            if value.value.is_some() {
                valued += 1;
            } else if value.is_pending() {
                pending += 1;
            } else {
                unvalued += 1;
            }
            batch.push((profile, tx, value));
            if batch.len() == BATCH_ROWS {
                let next = match written.try_recv() {
                    Ok(mut empty) => {
                        empty.clear();
                        empty
                    }
                    Err(_) => Vec::with_capacity(BATCH_ROWS),
                };
                let full = std::mem::replace(&mut batch, next);
                send.send(Batch::Rows(full))
                    .map_err(|_| anyhow::anyhow!("the rows' writer stopped"))?;
            }
            Ok(())
        };
        let normalized = normalize_all(accounts, scopes, &opts, &mut sink);
        // Only a complete stream of rows ends with `Done`: without it the writer keeps its
        // temp files out of place (no half-written file is ever renamed into place).
        let sent = normalized.and_then(|per_account| {
            let last = std::mem::take(&mut batch);
            send.send(Batch::Rows(last))
                .and_then(|()| send.send(Batch::Done))
                .map_err(|_| anyhow::anyhow!("the rows' writer stopped"))?;
            Ok(per_account)
        });
        drop(send);
        let booked = booker
            .join()
            .map_err(|_| anyhow::anyhow!("the rows' writer panicked"))?;
        // The writer's own failure is the cause of a stop here, so it is reported first.
        match (sent, booked?) {
            (Ok(per_account), Some(done)) => Ok((per_account, done)),
            (Err(e), _) => Err(e),
            (Ok(_), None) => Err(anyhow::anyhow!("internal error: the rows' writer ended early")),
        }
    })?;
    Ok(RowsWritten {
        normalized: combined(&per_account, accounts),
        per_account,
        exported,
        staged: Some(staged),
        tax,
        opening,
        valued,
        unvalued,
        pending,
    })
}

/// Rows handed from the thread that normalizes and values them to the one that writes.
pub(super) const BATCH_ROWS: usize = 256;
/// Batches that may wait for the writer.
const BATCHES_IN_FLIGHT: usize = 8;

/// A row to write: its profile, the row and its value.
type Booking<'p> = (&'p str, crate::model::Transaction, crate::prices::RowValue);

enum Batch<'p> {
    Rows(Vec<Booking<'p>>),
    /// Every row was sent.
    Done,
}

/// Writes every row received to every format, in the order sent; when the stream ends
/// with [`Batch::Done`], finishes the files' text ([`ExportWriter::finish_staged`]). `None`
/// when it ends without (the rows failed: the temp files are dropped, never renamed into
/// place).
fn write_batches<'p>(
    receive: &std::sync::mpsc::Receiver<Batch<'p>>,
    mut writer: ExportWriter,
    mut tax: TaxSummary,
    give_back: &std::sync::mpsc::Sender<Vec<Booking<'p>>>,
) -> Result<Option<(ExportReport, Staged, TaxSummary)>> {
    while let Ok(batch) = receive.recv() {
        match batch {
            Batch::Rows(rows) => {
                for (profile, tx, value) in &rows {
                    writer.write_for(profile, tx, value)?;
                    tax.add(tx, value);
                }
                // Dropped here only when the rows' thread has stopped taking them back.
                let _ = give_back.send(rows);
            }
            Batch::Done => {
                let (report, staged) = writer.finish_staged()?;
                return Ok(Some((report, staged, tax)));
            }
        }
    }
    Ok(None)
}

/// Normalizes every account's rows into `sink` (a group's merged in time order), with
/// each row's profile; returns each account's summary.
fn normalize_all<'p>(
    accounts: &[ReportAccount<'p>],
    scopes: &[AccountScope],
    opts: &dyn Fn(&AccountScope, &Store) -> Result<NormalizeOptions>,
    sink: &mut dyn FnMut(&'p str, crate::model::Transaction) -> Result<()>,
) -> Result<Vec<NormalizeSummary>> {
    if let [one] = accounts {
        return Ok(vec![normalize(
            one.store,
            &opts(&scopes[0], one.store)?,
            &mut |tx| sink(one.profile, tx),
        )?]);
    }
    let dirs: Vec<(PathBuf, NormalizeOptions)> = accounts
        .iter()
        .zip(scopes)
        .map(|(a, scope)| {
            let dir = a.store.path().parent().map(Path::to_path_buf).unwrap_or_default();
            Ok((dir, opts(scope, a.store)?))
        })
        .collect::<Result<_>>()?;
    merge::normalize_stores(&dirs, &mut |i, tx| sink(accounts[i].profile, tx))
}

/// Several accounts' normalization summaries as one (counts and sums added, lists joined;
/// each listed deposit, withdrawal or bill id prefixed with its profile, like the rows).
fn combined(parts: &[NormalizeSummary], accounts: &[ReportAccount]) -> NormalizeSummary {
    if let [one] = parts {
        return one.clone();
    }
    let mut out = NormalizeSummary::default();
    for (p, a) in parts.iter().zip(accounts) {
        let mut p = p.clone();
        for item in p
            .pending_deposits
            .iter_mut()
            .chain(&mut p.pending_withdrawals)
            .chain(&mut p.failed_or_canceled)
            .chain(&mut p.final_without_bill)
        {
            item.id = format!("{}/{}", a.profile, item.id);
        }
        for b in &mut p.bills_without_record {
            b.bill_id = format!("{}/{}", a.profile, b.bill_id);
        }
        let p = &p;
        for (k, v) in &p.rows_by_kind {
            *out.rows_by_kind.entry(*k).or_default() += v;
        }
        out.unclassified += p.unclassified;
        for (k, v) in &p.unclassified_codes {
            *out.unclassified_codes.entry(k.clone()).or_default() += v;
        }
        out.pending_deposits.extend(p.pending_deposits.iter().cloned());
        out.pending_withdrawals
            .extend(p.pending_withdrawals.iter().cloned());
        out.failed_or_canceled
            .extend(p.failed_or_canceled.iter().cloned());
        out.final_without_bill
            .extend(p.final_without_bill.iter().cloned());
        out.unmatched_enrichment += p.unmatched_enrichment;
        out.bills_without_record
            .extend(p.bills_without_record.iter().cloned());
        for (account, sums) in &p.row_sums {
            let to = out.row_sums.entry(*account).or_default();
            for (asset, v) in sums {
                *to.entry(asset.clone()).or_default() += v;
            }
        }
        out.decode_errors += p.decode_errors;
        out.sub_transfers.extend(p.sub_transfers.iter().cloned());
        out.unreadable.extend(p.unreadable.iter().cloned());
        for (k, v) in &p.unclassified_names {
            out.unclassified_names
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests;
