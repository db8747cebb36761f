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
    generator: Mutex<Gen>,
}

impl SimAccount {
    /// Generates the account for `seed` and `size` (deterministic).
    pub fn generate(seed: u64, size: AccountSize, unknown_bill_type: bool) -> SimAccount {
        let mut generator = Gen::generate(seed, size, unknown_bill_type);
        let data = std::mem::take(&mut generator.out);
        SimAccount {
            data: RwLock::new(data),
            generator: Mutex::new(generator),
        }
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

    /// Appends `n` spot trades (2 bills each) and one deposit (with its bill) at `now_ms`.
    pub(crate) fn add_activity(&self, n: usize, now_ms: i64) {
        let mut generator = self
            .generator
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut data = self
            .data
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        generator.out = std::mem::take(&mut *data);
        generator.add_activity(n, now_ms);
        *data = std::mem::take(&mut generator.out);
    }
}
