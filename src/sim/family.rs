//! A master account with sub-accounts ([`SimConfig::subaccounts`]).
//!
//! Each active sub-account is an account of its own, generated like the master's with a
//! smaller plan ([`AccountSize::Sub`]) from its own seed. Then the transfers between the
//! master and each sub-account are booked into both funding ledgers (okx-api.md §12.1.3):
//! the master's bill `20` (to the sub, `balChg` < 0) meets the sub's `23` (in from the
//! master), the master's `21` (from the sub) meets the sub's `22` (out to the master), at the
//! same millisecond with the same currency and amount; the master's
//! `asset/subaccount/bills` gets a record naming the sub-account.
//!
//! Booking after generation leaves everything else as generated: a transfer takes at most
//! a fraction of what the sending ledger holds from its time to the end (so no balance
//! ever goes negative), and every later `bal` of that currency, in both ledgers, and the
//! final balances move by the amount. Each active sub-account also gets one internal
//! withdrawal from the master (type `3`, to the sub-account's uid, no fee): a withdrawal
//! record and bill `2` on the master, a deposit record naming it (`fromWdId`) and bill `1`
//! on the sub-account. What OKX leaves unverified is a knob:
//! [`SimConfig::sub_transfer_same_bill_ids`] and [`SimConfig::sub_transfer_notes_name_sub`].

use super::generate::{END_MS, START_MS, ccy_dp, clear_of_window_edges, floor_dp, snowflake};
use super::model::{AccountData, FUNDING, FundingBill, SimDeposit, SimSubTransfer, SimWithdrawal};
use super::{SimConfig, SimSub};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

const DAY_MS: i64 = 86_400_000;

/// The part of `ccy` the funding ledger `bills` can give up at `t` without any balance
/// going negative: the least of its balance just before `t` and of every later `bal`.
fn room(bills: &[FundingBill], ccy: &str, t: i64) -> Decimal {
    let p = bills.partition_point(|b| b.ts < t);
    let before = bills[..p]
        .iter()
        .rev()
        .find(|b| b.ccy == ccy)
        .map_or(Decimal::ZERO, |b| b.bal);
    bills[p..]
        .iter()
        .filter(|b| b.ccy == ccy)
        .map(|b| b.bal)
        .fold(before, Decimal::min)
}

/// Inserts a funding bill at `t` (no bill of `data` may be at `t`) and moves every later
/// `bal` of its currency and the final balance by `chg`.
fn insert(data: &mut AccountData, bill: FundingBill) {
    let (t, ccy, chg) = (bill.ts, bill.ccy, bill.bal_chg);
    let p = data.funding_bills.partition_point(|b| b.ts < t);
    let before = data.funding_bills[..p]
        .iter()
        .rev()
        .find(|b| b.ccy == ccy)
        .map_or(Decimal::ZERO, |b| b.bal);
    let last = !data.funding_bills[p..].iter().any(|b| b.ccy == ccy);
    for b in data.funding_bills[p..].iter_mut().filter(|b| b.ccy == ccy) {
        b.bal += chg;
    }
    data.funding_bills.insert(
        p,
        FundingBill {
            bal: before + chg,
            ..bill
        },
    );
    let total = data.balance(FUNDING, ccy) + chg;
    if total.is_zero() {
        data.balances.remove(&(FUNDING, ccy));
    } else {
        data.balances.insert((FUNDING, ccy), total);
    }
    if last {
        data.balance_times.insert((FUNDING, ccy), t);
    }
}

/// A `&'static str` for a note built at start (a few per simulator).
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Books the transfers between `master` and the sub-account `spec` (whose account is
/// `sub`) into both ledgers and the master's sub-account transfer history.
pub(crate) fn book_transfers(
    master: &mut AccountData,
    sub: &mut AccountData,
    spec: &SimSub,
    cfg: &SimConfig,
) {
    let mut rng = SmallRng::seed_from_u64(spec.seed ^ 0x5ab5_a11c);
    let (from, to) = (START_MS + 2 * DAY_MS, END_MS - 2 * DAY_MS);
    let n = spec.transfers.max(1) as i64;
    let slot = (to - from) / n;
    for k in 0..spec.transfers {
        let to_sub = k == 0 || rng.random_bool(0.5);
        let mut t = clear_of_window_edges(from + k as i64 * slot + rng.random_range(0..slot / 2));
        let taken = |d: &AccountData, t: i64| d.funding_bills.iter().any(|b| b.ts == t);
        while taken(master, t) || taken(sub, t) || clear_of_window_edges(t) != t {
            t += 1;
        }
        let giver: &AccountData = if to_sub { master } else { sub };
        let f = Decimal::new(rng.random_range(10..40), 2);
        let start = rng.random_range(0..4);
        let picked = (0..4).find_map(|i| {
            let ccy = ["USDT", "ETH", "SOL", "BTC"][(start + i) % 4];
            let amt = floor_dp(room(&giver.funding_bills, ccy, t) * f, ccy_dp(ccy));
            (amt > Decimal::ZERO).then_some((ccy, amt))
        });
        let Some((ccy, amt)) = picked else { continue };
        let base = snowflake(t);
        let (master_id, sub_id, record_id) = if cfg.sub_transfer_same_bill_ids {
            (base + 7, base + 7, base + 7)
        } else {
            (base + 7, base + 11, base + 13)
        };
        let name = &spec.name;
        let (master_type, sub_type, master_note, sub_note) = if to_sub {
            (
                "20",
                "23",
                "Transfer to sub account",
                "Transfer in from master account",
            )
        } else {
            (
                "21",
                "22",
                "Transfer from sub account",
                "Transfer out to master account",
            )
        };
        let master_note = if cfg.sub_transfer_notes_name_sub {
            leak(format!("{master_note} {name}"))
        } else {
            master_note
        };
        let sign = if to_sub {
            Decimal::NEGATIVE_ONE
        } else {
            Decimal::ONE
        };
        insert(
            master,
            FundingBill {
                bill_id: master_id,
                bill_type: master_type,
                ts: t,
                ccy,
                bal_chg: sign * amt,
                bal: Decimal::ZERO,
                notes: master_note,
            },
        );
        insert(
            sub,
            FundingBill {
                bill_id: sub_id,
                bill_type: sub_type,
                ts: t,
                ccy,
                bal_chg: -sign * amt,
                bal: Decimal::ZERO,
                notes: sub_note,
            },
        );
        master.sub_transfers.push(SimSubTransfer {
            bill_id: record_id,
            ccy,
            amt,
            to_sub,
            sub_acct: name.clone(),
            ts: t,
        });
    }
    master.sub_transfers.sort_by_key(|s| (s.ts, s.bill_id));
    if spec.transfers > 0 {
        internal_withdrawal(master, sub, spec, &mut rng);
    }
}

/// One internal withdrawal (type 3) of USDT from `master` to the sub-account, credited
/// to it as a deposit whose `fromWdId` names the withdrawal.
fn internal_withdrawal(master: &mut AccountData, sub: &mut AccountData, spec: &SimSub, rng: &mut SmallRng) {
    let mut t = clear_of_window_edges(START_MS + 20 * DAY_MS + rng.random_range(0..10 * DAY_MS));
    let taken = |d: &AccountData, t: i64| d.funding_bills.iter().any(|b| b.ts == t);
    while taken(master, t) || taken(sub, t) || clear_of_window_edges(t) != t {
        t += 1;
    }
    let amt = floor_dp(room(&master.funding_bills, "USDT", t) / Decimal::from(20), 2);
    if amt <= Decimal::ZERO {
        return;
    }
    let wd_id = 29_000_000 + spec.seed * 1000;
    let dep_id = 159_000_000 + spec.seed * 1000;
    let w = SimWithdrawal {
        wd_id,
        ccy: "USDT",
        chain: "USDT-TRC20",
        amt,
        fee: Decimal::ZERO,
        ts: t - 2_000,
        to: spec.uid.clone(),
        tx_id: String::new(),
        state: "2",
        wd_type: "3",
    };
    let at = master.withdrawals.partition_point(|x| x.ts <= w.ts);
    master.withdrawals.insert(at, w);
    let d = SimDeposit {
        dep_id,
        ccy: "USDT",
        chain: "USDT-TRC20",
        amt,
        from: "m***r@example.com".into(),
        to: String::new(),
        tx_id: String::new(),
        ts: t - 1_000,
        state: "2",
        actual_dep_blk_confirm: 0,
        dep_type: "3",
        from_wd_id: Some(wd_id),
    };
    let at = sub.deposits.partition_point(|x| x.ts <= d.ts);
    sub.deposits.insert(at, d);
    let base = snowflake(t);
    for (data, id, ty, chg, notes) in [
        (&mut *master, base + 17, "2", -amt, "Withdrawal"),
        (&mut *sub, base + 19, "1", amt, "Deposit"),
    ] {
        insert(
            data,
            FundingBill {
                bill_id: id,
                bill_type: ty,
                ts: t,
                ccy: "USDT",
                bal_chg: chg,
                bal: Decimal::ZERO,
                notes,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AccountSize, SimAccount, SimConfig, TRADING};
    use super::*;

    fn family(same_ids: bool) -> (AccountData, AccountData, AccountData, AccountData) {
        let cfg = SimConfig {
            sub_transfer_same_bill_ids: same_ids,
            sub_transfer_notes_name_sub: same_ids,
            ..SimConfig::family()
        };
        let master0 = SimAccount::generate(7, AccountSize::Demo, false).snapshot();
        let spec = &cfg.subaccounts[0];
        let sub0 = SimAccount::generate(spec.seed, AccountSize::Sub, false).snapshot();
        let (mut master, mut sub) = (master0.clone(), sub0.clone());
        book_transfers(&mut master, &mut sub, spec, &cfg);
        (master0, sub0, master, sub)
    }

    /// Both ledgers get their side of every transfer at the same ms, amount and currency;
    /// every `bal` stays the running balance and non-negative; the final balances move by
    /// exactly the transfers; the trading ledger is untouched.
    #[test]
    fn transfers_meet_in_both_ledgers() {
        for same_ids in [false, true] {
            let (master0, sub0, master, sub) = family(same_ids);
            assert_eq!(master.sub_transfers.len(), 6, "six transfers booked");
            assert!(
                master.sub_transfers[0].to_sub,
                "the first one funds the sub-account"
            );
            assert!(
                master.sub_transfers.iter().any(|s| !s.to_sub),
                "and some come back"
            );
            for s in &master.sub_transfers {
                let m: Vec<_> = master.funding_bills.iter().filter(|b| b.ts == s.ts).collect();
                let b: Vec<_> = sub.funding_bills.iter().filter(|b| b.ts == s.ts).collect();
                assert_eq!((m.len(), b.len()), (1, 1), "one bill each side at {}", s.ts);
                let (m, b) = (m[0], b[0]);
                assert_eq!((m.ccy, b.ccy), (s.ccy, s.ccy));
                let (mt, bt) = if s.to_sub { ("20", "23") } else { ("21", "22") };
                assert_eq!((m.bill_type, b.bill_type), (mt, bt));
                assert_eq!(m.bal_chg, -b.bal_chg);
                assert_eq!(m.bal_chg.abs(), s.amt);
                assert_eq!(m.bill_id == b.bill_id, same_ids);
                assert_eq!(m.bill_id == s.bill_id, same_ids);
                assert_eq!(m.notes.contains("bot"), same_ids, "{}", m.notes);
            }
            for d in [&master, &sub] {
                let mut run: std::collections::BTreeMap<&str, Decimal> = std::collections::BTreeMap::new();
                for b in &d.funding_bills {
                    let r = run.entry(b.ccy).or_default();
                    *r += b.bal_chg;
                    assert_eq!(*r, b.bal, "bill {} {}", b.bill_id, b.ccy);
                    assert!(b.bal >= Decimal::ZERO);
                }
                for (ccy, r) in run {
                    assert_eq!(d.balance(FUNDING, ccy), r, "{ccy}");
                }
                assert!(d.funding_bills.windows(2).all(|w| w[0].bill_id < w[1].bill_id));
            }
            let moved = |d0: &AccountData, d: &AccountData, ccy: &str| {
                d.balance(FUNDING, ccy) - d0.balance(FUNDING, ccy)
            };
            for ccy in ["USDT", "ETH", "SOL", "BTC"] {
                assert_eq!(moved(&master0, &master, ccy), -moved(&sub0, &sub, ccy), "{ccy}");
                assert_eq!(master.balance(TRADING, ccy), master0.balance(TRADING, ccy));
            }
            assert_eq!(master.trading_bills, master0.trading_bills);
            // The internal withdrawal: the deposit names it, both sides booked.
            let d = sub
                .deposits
                .iter()
                .find(|d| d.from_wd_id.is_some())
                .expect("an internal deposit");
            let w = master
                .withdrawals
                .iter()
                .find(|w| Some(w.wd_id) == d.from_wd_id)
                .expect("its withdrawal");
            assert_eq!((w.wd_type, d.dep_type, w.to.as_str()), ("3", "3", "20000002"));
            assert_eq!((w.amt, w.fee, w.ccy), (d.amt, Decimal::ZERO, d.ccy));
            let bill = |data: &AccountData, ty: &str, chg: Decimal| {
                data.funding_bills
                    .iter()
                    .any(|b| b.bill_type == ty && b.bal_chg == chg && b.ts > w.ts && b.ts - w.ts < 5_000)
            };
            assert!(bill(&master, "2", -w.amt) && bill(&sub, "1", d.amt));
        }
    }
}
