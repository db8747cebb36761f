//! Every paginated stream a full sync walks (../shared/okx-api.md §4, §6): its endpoint,
//! cursor, key and window, and which records are not final yet.

use super::stream::{CursorKind, KeyKind, StreamSpec};
use crate::okx::endpoints::{self, INST_TYPES};
use crate::store::RecordKind;
use serde_json::Value;
/// A deposit can still change unless it succeeded (`2`) or hit a blacklisted address
/// (`11`). Frozen (`12`), intercepted (`13`), KYC-limited (`14`), suspended (`8`),
/// Travel-Rule (`17`) and confirming (`0`, `1`) deposits can still be credited, so later
/// runs re-read down to them until they are final (../shared/okx-api.md §5.5).
pub fn deposit_not_final(v: &Value) -> bool {
    !matches!(v.get("state").and_then(Value::as_str), Some("2" | "11"))
}

/// A withdrawal is final once successful (`2`), failed (`-1`) or canceled (`-2`).
pub fn withdrawal_not_final(v: &Value) -> bool {
    !matches!(v.get("state").and_then(Value::as_str), Some("2" | "-1" | "-2"))
}

/// Every paginated stream of a full sync (../shared/okx-api.md §4, §6).
pub fn streams() -> Vec<StreamSpec> {
    let days = chrono::Duration::days;
    let fill = |name: String, endpoint, query, window| StreamSpec {
        name,
        endpoint,
        query,
        kind: RecordKind::Fill,
        cursor: CursorKind::Id("billId"),
        key: KeyKind::Fill,
        ts_field: "ts",
        link_field: Some("billId"),
        mutable: None,
        window: Some(window),
        history_from: None,
    };
    let mut out: Vec<StreamSpec> = INST_TYPES
        .iter()
        .map(|t| {
            fill(
                format!("fills-history/{t}"),
                endpoints::FILLS_HISTORY,
                vec![("instType", t.to_string())],
                days(90),
            )
        })
        .collect();
    out.push(fill("fills".into(), endpoints::FILLS, vec![], days(3)));
    let by_id = |name: &str, endpoint, kind, query: Vec<(&'static str, String)>, window| StreamSpec {
        name: name.into(),
        endpoint,
        query,
        kind,
        cursor: CursorKind::Id("billId"),
        key: KeyKind::Field("billId"),
        ts_field: "ts",
        link_field: None,
        mutable: None,
        window,
        history_from: None,
    };
    out.push(by_id(
        "bills-archive",
        endpoints::BILLS_ARCHIVE,
        RecordKind::Bill,
        vec![],
        Some(days(90)),
    ));
    out.push(by_id(
        "bills",
        endpoints::BILLS,
        RecordKind::Bill,
        vec![],
        Some(days(7)),
    ));
    out.push(by_id(
        "asset-bills-history",
        endpoints::ASSET_BILLS_HISTORY,
        RecordKind::FundingBill,
        vec![("pagingType", "2".into())],
        None,
    ));
    let by_time = |name: &str, endpoint, kind, key, mutable, window| StreamSpec {
        name: name.into(),
        endpoint,
        query: vec![],
        kind,
        cursor: CursorKind::Time("ts"),
        key: KeyKind::Field(key),
        ts_field: "ts",
        link_field: None,
        mutable,
        window,
        history_from: None,
    };
    out.push(by_time(
        "asset-bills",
        endpoints::ASSET_BILLS,
        RecordKind::FundingBill,
        "billId",
        None,
        Some(days(30)),
    ));
    out.push(by_time(
        "deposit-history",
        endpoints::DEPOSIT_HISTORY,
        RecordKind::Deposit,
        "depId",
        Some(deposit_not_final as fn(&Value) -> bool),
        None,
    ));
    out.push(by_time(
        "withdrawal-history",
        endpoints::WITHDRAWAL_HISTORY,
        RecordKind::Withdrawal,
        "wdId",
        Some(withdrawal_not_final as fn(&Value) -> bool),
        None,
    ));
    out.push(by_time(
        "convert-history",
        endpoints::CONVERT_HISTORY,
        RecordKind::Convert,
        "tradeId",
        None,
        None,
    ));
    out
}
