//! `SimAccount`: the generated ground truth, shared by the server and by tests.

use super::AccountSize;
use super::generate::Gen;
use super::model::{
    AccountData, FundingBill, SameMsGroup, SavingsHolding, SimConvert, SimDeposit, SimFill, SimWithdrawal,
    TradingBill,
};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::{Mutex, RwLock, RwLockReadGuard};

/// The simulated account. Reads are cheap (`data()`); `add_activity` appends under a write
/// lock, so the accessors return snapshots (clones) or a short-lived read guard.
pub struct SimAccount {
    data: RwLock<AccountData>,
    /// `None` for an account that was never used ([`SimAccount::empty`]).
    generator: Mutex<Option<Gen>>,
}

impl SimAccount {
    /// Generates the account for `seed` and `size` (deterministic).
    pub fn generate(seed: u64, size: AccountSize, unknown_bill_type: bool) -> SimAccount {
        SimAccount::generate_on(seed, size, unknown_bill_type, false)
    }

    /// [`SimAccount::generate`] on a volatile market (`SimConfig::volatile_hours`).
    pub fn generate_on(seed: u64, size: AccountSize, unknown_bill_type: bool, volatile: bool) -> SimAccount {
        let mut generator = Gen::generate(seed, size, unknown_bill_type, volatile);
        let data = std::mem::take(&mut generator.out);
        SimAccount {
            data: RwLock::new(data),
            generator: Mutex::new(Some(generator)),
        }
    }

    /// An account without any history or balance (a sub-account never used).
    pub fn empty() -> SimAccount {
        SimAccount {
            data: RwLock::new(AccountData::default()),
            generator: Mutex::new(None),
        }
    }

    /// Changes the ground truth in place (the family's transfers, see `family.rs`).
    pub(crate) fn edit<T>(&self, f: impl FnOnce(&mut AccountData) -> T) -> T {
        let mut data = self
            .data
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut data)
    }

    /// A read guard on the whole ground truth. Do not hold it across `.await` in a test
    /// that also calls `add_activity`.
    pub fn data(&self) -> RwLockReadGuard<'_, AccountData> {
        self.data
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A copy of the whole ground truth.
    pub fn snapshot(&self) -> AccountData {
        self.data().clone()
    }

    pub fn fills(&self) -> Vec<SimFill> {
        self.data().fills.clone()
    }

    pub fn trading_bills(&self) -> Vec<TradingBill> {
        self.data().trading_bills.clone()
    }

    pub fn funding_bills(&self) -> Vec<FundingBill> {
        self.data().funding_bills.clone()
    }

    pub fn deposits(&self) -> Vec<SimDeposit> {
        self.data().deposits.clone()
    }

    pub fn withdrawals(&self) -> Vec<SimWithdrawal> {
        self.data().withdrawals.clone()
    }

    pub fn converts(&self) -> Vec<SimConvert> {
        self.data().converts.clone()
    }

    /// Final balances per (`"trading"`/`"funding"`/`"earn"`, ccy); zero ones are absent.
    pub fn balances(&self) -> BTreeMap<(&'static str, &'static str), Decimal> {
        self.data().balances.clone()
    }

    /// One final balance; zero when absent.
    pub fn balance(&self, account: &str, ccy: &str) -> Decimal {
        self.data().balance(account, ccy)
    }

    pub fn savings(&self) -> BTreeMap<&'static str, SavingsHolding> {
        self.data().savings.clone()
    }

    /// The same-millisecond groups at the 100-record page boundary.
    pub fn same_ms_groups(&self) -> Vec<SameMsGroup> {
        self.data().same_ms_groups()
    }

    /// In each ledger, the first bill older than `before_ms` (no transfer, deposit or
    /// withdrawal) whose next bill of the same currency follows within 10 minutes is dated
    /// 1 ms after that bill: billId order and time order then disagree, and `bal` is
    /// consistent only in billId order. The funding bill is older than the 30-day
    /// `asset/bills` window, whose time cursor needs the bills in time order.
    pub(crate) fn disorder_bill_times(&self, before_ms: i64) {
        let mut data = self
            .data
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        fn pick<T>(
            bills: &[T],
            before_ms: i64,
            ts: impl Fn(&T) -> i64,
            ccy: impl Fn(&T) -> &'static str,
            plain: impl Fn(&T) -> bool,
        ) -> Option<(usize, i64)> {
            (0..bills.len()).find_map(|i| {
                let a = &bills[i];
                if ts(a) >= before_ms || !plain(a) {
                    return None;
                }
                let b = bills[i + 1..].iter().find(|b| ccy(b) == ccy(a))?;
                let gap = ts(b) - ts(a);
                (1..=600_000).contains(&gap).then_some((i, ts(b) + 1))
            })
        }
        if let Some((i, t)) = pick(
            &data.trading_bills,
            before_ms,
            |b| b.ts,
            |b| b.ccy,
            |b| !matches!(b.sub_type, "11" | "12"),
        ) {
            data.trading_bills[i].ts = t;
        }
        if let Some((i, t)) = pick(
            &data.funding_bills,
            before_ms,
            |b| b.ts,
            |b| b.ccy,
            |b| !matches!(b.bill_type, "1" | "2" | "130" | "131"),
        ) {
            data.funding_bills[i].ts = t;
        }
    }

    /// Appends `n` spot trades (2 bills each) and one deposit (with its bill) at `now_ms`.
    pub(crate) fn add_activity(&self, n: usize, now_ms: i64) {
        self.with_generator(|g| g.add_activity(n, now_ms));
    }

    /// A deposit record dated `ts_ms` in a non-final `state`, not credited (see
    /// [`Gen::add_held_deposit`]); returns its depId.
    pub(crate) fn add_held_deposit(&self, ts_ms: i64, state: &'static str) -> u64 {
        self.with_generator(|g| g.add_held_deposit(ts_ms, state))
    }

    /// Deposit `dep_id` turns final and is credited at `now_ms` (see
    /// [`Gen::credit_deposit`]).
    pub(crate) fn credit_deposit(&self, dep_id: u64, now_ms: i64) -> bool {
        self.with_generator(|g| g.credit_deposit(dep_id, now_ms))
    }

    /// Runs `f` on the generator holding the current data, under the write lock.
    fn with_generator<T: Default>(&self, f: impl FnOnce(&mut Gen) -> T) -> T {
        let mut generator = self
            .generator
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(generator) = generator.as_mut() else {
            return T::default();
        };
        let mut data = self
            .data
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        generator.out = std::mem::take(&mut *data);
        let out = f(generator);
        *data = std::mem::take(&mut generator.out);
        out
    }
}
