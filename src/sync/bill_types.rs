//! OKX's bill-type dictionary (`GET /api/v5/account/subtypes`, okx-api.md §12.2): fetched
//! when the store has none or a stored trading bill has a code it does not name, and kept
//! in the store, so a report can name every unclassified code with OKX's own words.
//! Optional: a site without the endpoint is told like any missing product.

use crate::okx::OkxClient;
use crate::okx::endpoints::BILL_TYPES;
use crate::okx::wire::BillType;
use crate::store::{BillTypeName, Store};
use anyhow::Result;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// The dictionary's name in summaries and messages.
pub const NAME: &str = "bill-types";

/// The stored trading codes the cached dictionary does not name (a type it lacks, or a
/// subType its type does not list).
pub fn unnamed_codes(store: &Store) -> Result<Vec<(Option<String>, Option<String>)>> {
    let names = store.bill_types()?;
    let types: HashSet<&str> = names.iter().map(|n| n.bill_type.as_str()).collect();
    let subs: HashSet<(&str, &str)> = names
        .iter()
        .filter_map(|n| Some((n.bill_type.as_str(), n.sub_type.as_deref()?)))
        .collect();
    Ok(store
        .trading_codes()?
        .into_iter()
        .filter(|(t, s)| match (t.as_deref(), s.as_deref()) {
            (Some(t), Some(s)) => !subs.contains(&(t, s)),
            (Some(t), None) => !types.contains(t),
            (None, _) => false,
        })
        .collect())
}

/// Fetches the dictionary when the store has none or lacks a stored code; returns how
/// many names were stored (`None`: the cached one was complete).
pub async fn refresh(
    client: &OkxClient,
    store: &Arc<Mutex<Store>>,
    now: DateTime<Utc>,
) -> Result<Option<u64>> {
    let needed = {
        let s = store.lock().expect("store lock");
        s.bill_types_fetched_at()?.is_none() || !unnamed_codes(&s)?.is_empty()
    };
    if !needed {
        return Ok(None);
    }
    let types: Vec<BillType> = client.get(BILL_TYPES, &[]).await?;
    let names = to_names(&types);
    store.lock().expect("store lock").save_bill_types(&names, now)?;
    Ok(Some(names.len() as u64))
}

/// The dictionary's rows: one per type, one per subType (the last description wins when
/// OKX lists a code twice, as its docs do for 280/281 and 381).
pub fn to_names(types: &[BillType]) -> Vec<BillTypeName> {
    let mut out: HashMap<(String, Option<String>), String> = HashMap::new();
    for t in types {
        out.insert(
            (t.bill_type.clone(), None),
            t.type_desc.clone().unwrap_or_default(),
        );
        for s in &t.sub_types {
            out.insert(
                (t.bill_type.clone(), Some(s.sub_type.clone())),
                s.sub_type_desc.clone().unwrap_or_default(),
            );
        }
    }
    let mut names: Vec<BillTypeName> = out
        .into_iter()
        .map(|((bill_type, sub_type), description)| BillTypeName {
            bill_type,
            sub_type,
            description,
        })
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OKX's documented example answer decodes into names.
    #[test]
    fn the_documented_answer_decodes() {
        let raw = r#"[{"type":"1","typeDesc":"Transfer","subTypeDetails":[{"subType":"11","subTypeDesc":"Transfer in"},{"subType":"12","subTypeDesc":"Transfer out"}]},{"type":"38","typeDesc":"USDG rewards","subTypeDetails":[]},{"type":"36","typeDesc":""}]"#;
        let types: Vec<BillType> = serde_json::from_str(raw).unwrap();
        let names = to_names(&types);
        assert_eq!(names.len(), 5, "{names:?}");
        let sub = names
            .iter()
            .find(|n| n.sub_type.as_deref() == Some("12"))
            .unwrap();
        assert_eq!(
            (sub.bill_type.as_str(), sub.description.as_str()),
            ("1", "Transfer out")
        );
        let disabled = names.iter().find(|n| n.bill_type == "36").unwrap();
        assert_eq!(disabled.description, "", "an empty description: not enabled");
    }
}
