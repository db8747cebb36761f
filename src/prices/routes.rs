//! Which instruments price an asset, as the price stage learns which exist: an asset's
//! route is the first of its candidates ([`rules::candidates`]) none of whose instruments
//! OKX lacks; an index's minutes may instead go through its asset's spot pair against a
//! USD stablecoin ([`Alt`]); and while an asset's route is not settled, the instruments of
//! its later routes may still gain its minutes ([`unsettled`], issue 23).

use super::rules::{self, Inst, Route};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Known state of an instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Unknown,
    Probing,
    Present,
    Absent,
}

/// The route `asset` takes given what is known, and the instruments (with the minutes
/// they must price) it needs, added to `out`.
pub(super) fn add_route(
    asset: &str,
    minutes: &BTreeSet<i64>,
    states: &HashMap<Inst, State>,
    depth: u32,
    out: &mut BTreeMap<Inst, BTreeSet<i64>>,
) {
    if depth > 3 {
        return;
    }
    let absent = |i: &Inst| states.get(i) == Some(&State::Absent);
    for route in rules::candidates(asset) {
        if route.instruments().into_iter().any(absent) {
            continue;
        }
        for i in route.instruments() {
            out.entry(i.clone()).or_default().extend(minutes.iter().copied());
        }
        if let Route::Pair { quote, .. } = &route {
            add_route(quote, minutes, states, depth + 1, out);
        }
        return;
    }
}

/// The instruments that may still gain minutes: those of the later routes of each asset
/// whose route is not settled (an instrument of it not known to exist yet), which its
/// minutes move to if that one turns out absent. A page laid on them before then may not
/// be where the plan with the settled routes lays it. (A pair route's quote is priced on
/// its own route, which is not followed here: that would make two unsettled routes wait
/// for each other.)
pub(super) fn unsettled(
    needs: &BTreeMap<String, BTreeSet<i64>>,
    states: &HashMap<Inst, State>,
) -> HashSet<Inst> {
    let known = |i: &Inst| matches!(states.get(i), Some(State::Present | State::Absent));
    let mut out = HashSet::new();
    for asset in needs.keys() {
        let mut later = false;
        for route in rules::candidates(asset) {
            let insts = route.instruments();
            let absent = insts.iter().any(|i| states.get(*i) == Some(&State::Absent));
            if later {
                out.extend(insts.into_iter().cloned());
            } else if !absent && insts.iter().all(|i| known(i)) {
                break; // its route is settled
            } else if !absent {
                later = true;
            }
        }
    }
    out
}

/// The first route of `asset` none of whose instruments is known to be absent.
pub(super) fn resolved(asset: &str, states: &HashMap<Inst, State>) -> Option<Route> {
    rules::candidates(asset).into_iter().find(|r| {
        r.instruments()
            .into_iter()
            .all(|i| states.get(i) != Some(&State::Absent))
    })
}

/// The first spot pair of index `index`'s asset against a USD stablecoin (`ETH-USDT` for
/// `ETH-USD`), if the asset is not a stablecoin itself.
pub(super) fn stable_pair(index: &Inst) -> Option<Inst> {
    let asset = index.id.strip_suffix("-USD")?;
    if rules::is_usd_stablecoin(asset) || rules::is_fiat(asset) {
        return None;
    }
    rules::candidates(asset).into_iter().find_map(|r| match r {
        Route::Pair { pair, quote } if rules::is_usd_stablecoin(&quote) => Some(pair),
        _ => None,
    })
}

/// The other way to price the minutes of an index: its asset's spot pair against a USD
/// stablecoin, times that stablecoin's price (read from `quote_insts`).
#[derive(Debug, Clone)]
pub(super) struct Alt {
    pub pair: Inst,
    pub quote_insts: Vec<Inst>,
}

/// The [`Alt`] of index `index` (asset `X`, `X-USD`): the first spot pair of `X` against
/// a USD stablecoin not known to be absent, when that stablecoin's route does not go
/// through `X`'s own index (BTC's would: USDT is `BTC-USD` ÷ `BTC-USDT` without an index).
pub(super) fn alternative(index: &Inst, states: &HashMap<Inst, State>) -> Option<Alt> {
    let asset = index.id.strip_suffix("-USD")?;
    for route in rules::candidates(asset) {
        let Route::Pair { pair, quote } = route else {
            continue;
        };
        if !rules::is_usd_stablecoin(&quote) {
            continue;
        }
        if states.get(&pair) == Some(&State::Absent) {
            return None;
        }
        let quote_insts: Vec<Inst> = resolved(&quote, states)?
            .instruments()
            .into_iter()
            .cloned()
            .collect();
        if quote_insts.is_empty() || quote_insts.contains(index) {
            return None;
        }
        return Some(Alt { pair, quote_insts });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs(assets: &[&str]) -> BTreeMap<String, BTreeSet<i64>> {
        assets
            .iter()
            .map(|a| ((*a).to_string(), BTreeSet::from([0])))
            .collect()
    }

    /// While USDT's index is not known to exist, BTC's index and pair wait: USDT's minutes
    /// move there if it does not (the demo account's page more, issue 23).
    #[test]
    fn instruments_wait_for_the_routes_that_could_give_them_minutes() {
        let (usdt, btc, btc_usdt) = (Inst::index("USDT"), Inst::index("BTC"), Inst::spot("BTC", "USDT"));
        let mut states = HashMap::from([(usdt.clone(), State::Probing), (btc.clone(), State::Present)]);
        let u = unsettled(&needs(&["USDT", "BTC"]), &states);
        assert!(
            u.contains(&btc) && u.contains(&btc_usdt) && !u.contains(&usdt),
            "{u:?}"
        );
        // USDT's index exists: nothing waits.
        states.insert(usdt.clone(), State::Present);
        assert!(unsettled(&needs(&["USDT", "BTC"]), &states).is_empty());
        // It does not: USDT goes through BTC's index and pair, its last route; BTC's own
        // route is settled.
        states.insert(usdt, State::Absent);
        states.insert(btc_usdt.clone(), State::Unknown);
        assert!(unsettled(&needs(&["USDT", "BTC"]), &states).is_empty());
        // BTC's index not known yet: its later routes (the pair against USDT among them)
        // wait.
        states.insert(btc, State::Unknown);
        let u = unsettled(&needs(&["BTC"]), &states);
        assert!(
            u.contains(&btc_usdt) && u.len() == rules::ROUTE_QUOTES.len() - 1,
            "{u:?}"
        );
    }
}
