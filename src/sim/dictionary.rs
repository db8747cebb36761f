//! The simulator's `GET /api/v5/account/subtypes` (okx-api.md §12.2): every bill type and
//! subType its account uses, named as OKX names them (the documented tables), plus the
//! types OKX's live answer adds (20, 35, 37, 38, per a recorded answer) and the made-up
//! code 999/9999 of [`super::SimConfig::unknown_bill_type`], which only this dictionary
//! names.

use super::model::AccountData;
use crate::normalize::codes::{Field, TRADING_CODES};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// OKX's name of the simulator's unknown bill (the test of naming unknown codes).
pub const UNKNOWN_TYPE_DESC: &str = "Simulated new product";
pub const UNKNOWN_SUB_TYPE_DESC: &str = "Simulated product payout";

/// Types the live dictionary lists beyond the documented tables, with their names there.
const LIVE_ONLY: &[(&str, &str)] = &[
    ("20", "Conversion"),
    ("35", "Transfer"),
    ("37", "Corporate action"),
    ("38", "USDG rewards"),
];

fn name(field: Field, code: &str) -> Option<&'static str> {
    TRADING_CODES
        .iter()
        .find(|(f, c, ..)| *f == field && *c == code)
        .map(|(.., desc)| *desc)
}

/// Type number → (description, subTypes as (number, "code\0description")).
type Types = BTreeMap<u32, (String, BTreeSet<(u32, String)>)>;

/// The dictionary's `data`, types in numeric order; `leave_out` types are not listed (a
/// dictionary older than a code).
pub fn bill_types(account: &AccountData, leave_out: &[&str]) -> Vec<Value> {
    let mut types: Types = BTreeMap::new();
    let add_type = |types: &mut Types, t: &str| {
        let n: u32 = t.parse().unwrap_or(u32::MAX);
        types.entry(n).or_insert_with(|| {
            let desc = match t {
                "999" => UNKNOWN_TYPE_DESC.to_string(),
                _ => name(Field::Type, t)
                    .or_else(|| LIVE_ONLY.iter().find(|(c, _)| *c == t).map(|(_, d)| *d))
                    .unwrap_or("")
                    .to_string(),
            };
            (desc, BTreeSet::new())
        });
        n
    };
    for (t, _) in LIVE_ONLY {
        add_type(&mut types, t);
    }
    for &(f, c, ..) in TRADING_CODES {
        if f == Field::Type {
            add_type(&mut types, c);
        }
    }
    for b in &account.trading_bills {
        let n = add_type(&mut types, b.bill_type);
        if b.sub_type.is_empty() {
            continue;
        }
        let desc = match b.sub_type {
            "9999" => UNKNOWN_SUB_TYPE_DESC,
            s => name(Field::SubType, s).unwrap_or(""),
        };
        if let Some((_, subs)) = types.get_mut(&n) {
            subs.insert((
                b.sub_type.parse().unwrap_or(u32::MAX),
                format!("{}\u{0}{desc}", b.sub_type),
            ));
        }
    }
    types
        .into_iter()
        .filter(|(n, _)| !leave_out.contains(&n.to_string().as_str()))
        .map(|(n, (desc, subs))| {
            let details: Vec<Value> = subs
                .into_iter()
                .map(|(_, s)| {
                    let (code, desc) = s.split_once('\u{0}').unwrap_or((&s, ""));
                    json!({"subType": code, "subTypeDesc": desc})
                })
                .collect();
            json!({"type": n.to_string(), "typeDesc": desc, "subTypeDetails": details})
        })
        .collect()
}
