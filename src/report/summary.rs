//! `summary.json`: the machine-readable account of a report (what cron and monitoring read).

use super::ReportOutcome;
use crate::coverage;
use crate::export::write_json_atomic;
use crate::model::{plain, rfc3339_ms};
use crate::normalize::PendingItem;
use crate::reconcile::{Reconciliation, Status, check_rows};
use anyhow::Result;
use serde_json::json;
use std::path::PathBuf;

fn pending_json(items: &[PendingItem]) -> serde_json::Value {
    items
        .iter()
        .map(|p| {
            json!({
                "what": p.what, "id": p.id, "time": p.time.map(rfc3339_ms), "asset": p.asset,
                "amount": plain(p.amount), "state": p.state, "state_text": p.state_text,
                "tx_hash": p.tx_hash, "chain": p.chain,
            })
        })
        .collect()
}

fn reconciliation_json(rec: &Reconciliation) -> serde_json::Value {
    json!({
        "ok": rec.ok(),
        "mismatches": rec.rows.iter().filter(|r| r.status.is_failure()).map(|r| json!({
            "account": r.account.as_str(), "asset": r.asset, "computed": plain(r.computed),
            "reported": r.reported.map(plain), "difference": r.difference.map(plain), "status": r.status.as_str(),
        })).collect::<Vec<_>>(),
        "matched": rec.rows.iter().filter(|r| r.status.is_match()).count(),
        "not_compared": rec.rows.iter().filter(|r| r.status == Status::NotCompared).map(|r| json!({
            "account": r.account.as_str(), "asset": r.asset, "computed": plain(r.computed),
            "reported": r.reported.map(plain), "difference": r.difference.map(plain), "reason": r.reason,
        })).collect::<Vec<_>>(),
        "checks": check_rows(rec).iter().filter(|c| c.failed()).map(|c| json!({
            "check": c.check, "account": c.account, "asset": c.asset, "from": c.from.map(rfc3339_ms),
            "to": c.to.map(rfc3339_ms), "status": c.status, "detail": c.detail,
        })).collect::<Vec<_>>(),
        "gaps": rec.gaps.iter().map(|g| json!({
            "account": g.account.as_str(), "asset": g.asset, "from": rfc3339_ms(g.from), "to": rfc3339_ms(g.to),
        })).collect::<Vec<_>>(),
        "opening_balances": rec.rows.iter().filter(|r| !r.opening_balance.is_zero()).count(),
    })
}

/// The accounts block: every account of the report and every sub-account of a master in
/// it, with where it stands (`missing` ones make the report incomplete).
fn accounts_json(o: &ReportOutcome) -> serde_json::Value {
    json!({
        "complete": o.accounts.complete(),
        "accounts": o.accounts.lines.iter().map(|l| json!({
            "name": l.name, "uid": l.uid, "role": l.role, "status": l.status.as_str(),
            "holds": l.holds, "moved": l.moved, "detail": l.detail,
        })).collect::<Vec<_>>(),
    })
}

/// A group report's members: each one's identity, coverage and reconciliation.
fn members_json(o: &ReportOutcome) -> serde_json::Value {
    o.members
        .iter()
        .map(|m| {
            json!({
                "profile": m.profile,
                "uid": m.identity.as_ref().map(|i| i.uid.clone()),
                "master": m.identity.as_ref().map(crate::store::Identity::is_master),
                "balances_as_of": m.balances_as_of.map(rfc3339_ms),
                "coverage": coverage::coverage_json(&m.coverage),
                "reconciliation": m.reconciliation.as_ref().map(reconciliation_json),
            })
        })
        .collect()
}

/// Adds the blocks of a report of several accounts (or of a master) to `v`.
fn with_accounts(mut v: serde_json::Value, o: &ReportOutcome) -> serde_json::Value {
    v["accounts"] = accounts_json(o);
    if !o.members.is_empty() {
        v["members"] = members_json(o);
        if o.written.is_some() {
            // The group's own checks and every member's.
            v["reconciliation"]["ok"] = json!(o.reconciled());
        }
    }
    v
}

/// The JSON of `o` (without the files list: summary.json is one of them).
pub fn to_json(o: &ReportOutcome) -> serde_json::Value {
    with_accounts(report_json(o), o)
}

fn report_json(o: &ReportOutcome) -> serde_json::Value {
    let period = json!({
        "from": o.period.from.map(rfc3339_ms), "to": o.period.to.map(rfc3339_ms), "tz": o.period.tz.name(),
    });
    let Some(w) = &o.written else {
        return json!({
            "generated_at": rfc3339_ms(o.generated_at),
            "period": period,
            "data_as_of": o.coverage.as_of.map(rfc3339_ms),
            "incomplete": true,
            "coverage": coverage::coverage_json(&o.coverage),
            "formats": [],
            "exit_code": o.exit as u8,
        });
    };
    let s = &w.normalized;
    json!({
        "generated_at": rfc3339_ms(o.generated_at),
        "period": period,
        "data_as_of": o.coverage.as_of.map(rfc3339_ms),
        "rows_by_kind": s.rows_by_kind.iter().map(|(k, v)| (k.as_str().to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "unclassified": s.unclassified,
        "unclassified_codes": s.unclassified_codes,
        "unclassified_names": s.unclassified_names,
        "pending_deposits": pending_json(&s.pending_deposits),
        "pending_withdrawals": pending_json(&s.pending_withdrawals),
        "failed_or_canceled": pending_json(&s.failed_or_canceled),
        "final_without_bill": pending_json(&s.final_without_bill),
        "unmatched_enrichment": s.unmatched_enrichment,
        "decode_errors": s.decode_errors,
        "changed_records": w.changed_records,
        "unreadable": w.unreadable.iter().map(|u| json!({
            "kind": u.kind.as_str(), "key": u.key, "time": u.time.map(rfc3339_ms), "error": u.error, "fix": u.fix,
        })).collect::<Vec<_>>(),
        "formats": w.exported.formats.iter().map(|f| json!({
            "format": f.format.name(), "files": f.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "exported": f.exported, "records": f.records, "skipped_transfers": f.skipped_transfers,
            "skipped_unclassified": f.skipped_unclassified, "skipped_other": f.skipped_other,
        })).collect::<Vec<_>>(),
        "values": {
            "fiat": w.values.fiat.as_str(), "valued": w.values.valued, "missing": w.values.missing,
            "pending": w.values.pending, "holdings_missing": w.values.holdings_missing,
        },
        "reconciliation": reconciliation_json(&w.reconciliation),
        "balances_as_of": w.balances_as_of.map(rfc3339_ms),
        "closing_balances_as_of": w.closing.as_ref().map(|(at, _)| rfc3339_ms(*at)),
        "incomplete": !o.complete(),
        "coverage": coverage::coverage_json(&o.coverage),
        "exit_code": o.exit as u8,
    })
}

/// Writes `<out>/summary.json`; returns its path.
pub fn write(o: &ReportOutcome) -> Result<PathBuf> {
    let p = o.out.join("summary.json");
    write_json_atomic(&p, &to_json(o))?;
    Ok(p)
}
