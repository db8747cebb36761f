//! Earlier versions of stored records (schema v4): OKX answering a record it answered
//! before with other content, or one page holding two records with the same id and
//! different content. The store keeps OKX's latest version in `records` (the first of a
//! page's duplicates) and the other one here, so nothing OKX sent is lost and a failed
//! reconciliation can point at what changed.

use super::{DateTime, RecordKind, Result, Store, Utc, from_ms};
use serde_json::Value;

/// Schema v4, part 1: earlier versions of records.
pub(super) const SCHEMA_V4_HISTORY: &str = "
CREATE TABLE record_history (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    raw TEXT NOT NULL,
    stream TEXT NOT NULL,
    fetched_at INTEGER NOT NULL,
    replaced_at INTEGER NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX record_history_key ON record_history (kind, key);
";

/// Why a version is in the history.
pub const CHANGED: &str = "changed";
pub const DUPLICATE: &str = "duplicate";

/// One earlier (or discarded duplicate) version of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub kind: RecordKind,
    pub key: String,
    /// The version no longer in `records`.
    pub raw: String,
    /// The stream that fetched it.
    pub stream: String,
    pub fetched_at: Option<DateTime<Utc>>,
    /// When the other version took its place (or was seen beside it).
    pub replaced_at: Option<DateTime<Utc>>,
    /// [`CHANGED`] or [`DUPLICATE`].
    pub reason: String,
}

/// Whether `new` says something else than `old`: a field of `old` with a value that `new`
/// lacks or has with another value. A field only `new` has (OKX added one to its answers)
/// is not a change of content. Text that is not a JSON object compares as text.
pub fn content_changed(old: &str, new: &str) -> bool {
    match (
        serde_json::from_str::<Value>(old),
        serde_json::from_str::<Value>(new),
    ) {
        (Ok(Value::Object(o)), Ok(Value::Object(n))) => o.iter().any(|(k, v)| {
            let blank = matches!(v, Value::Null) || v.as_str().is_some_and(str::is_empty);
            match n.get(k) {
                Some(nv) => nv != v,
                None => !blank,
            }
        }),
        _ => old != new,
    }
}

impl Store {
    /// Every kept earlier version, oldest replacement first.
    pub fn history(&self) -> Result<Vec<HistoryEntry>> {
        let mut st = self.conn.prepare(
            "SELECT kind, key, raw, stream, fetched_at, replaced_at, reason FROM record_history ORDER BY replaced_at, id",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                HistoryEntry {
                    kind: RecordKind::Bill,
                    key: r.get(1)?,
                    raw: r.get(2)?,
                    stream: r.get(3)?,
                    fetched_at: from_ms(r.get(4)?),
                    replaced_at: from_ms(r.get(5)?),
                    reason: r.get(6)?,
                },
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (kind, mut e) = row?;
            let Some(kind) = RecordKind::parse(&kind) else {
                continue;
            };
            e.kind = kind;
            out.push(e);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_counts_as_a_change() {
        let old = r#"{"billId":"1","balChg":"1.5","bal":"2","notes":""}"#;
        assert!(!content_changed(old, old));
        assert!(content_changed(
            old,
            r#"{"billId":"1","balChg":"1.6","bal":"2","notes":""}"#
        ));
        assert!(
            content_changed(old, r#"{"billId":"1","bal":"2","notes":""}"#),
            "a field gone"
        );
        assert!(
            !content_changed(
                old,
                r#"{"billId":"1","balChg":"1.5","bal":"2","notes":"","tag":"x"}"#
            ),
            "a field added by OKX is no change of content"
        );
        assert!(
            !content_changed(old, r#"{"bal":"2","billId":"1","balChg":"1.5"}"#),
            "an empty field dropped"
        );
        assert!(content_changed("not json", "other"));
    }
}
