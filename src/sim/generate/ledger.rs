//! The *run* phase of the generator: events applied in time order against running
//! balances, each booked as trading or funding bills whose `bal` is the running balance.

use super::funding::reserve;
use super::{Ev, Gen, INCOME_BATCH, floor_dp};
use crate::sim::model::{FUNDING, FundingBill, TRADING, TradingBill};
use rust_decimal::Decimal;

impl Gen {
    pub(super) fn balance(&self, account: &'static str, ccy: &'static str) -> Decimal {
        self.bal.get(&(account, ccy)).copied().unwrap_or_default()
    }

    pub(super) fn book(
        &mut self,
        account: &'static str,
        ccy: &'static str,
        chg: Decimal,
        ts: i64,
    ) -> Decimal {
        let b = self.bal.entry((account, ccy)).or_default();
        *b += chg;
        let after = *b;
        self.bal_ts.insert((account, ccy), ts);
        after
    }

    /// A trading bill with balance and id filled in and OKX's defaults for the rest; the
    /// caller adjusts fields and pushes it.
    pub(super) fn trading_bill(
        &mut self,
        ts: i64,
        ty: &'static str,
        sub: &'static str,
        ccy: &'static str,
        chg: Decimal,
    ) -> TradingBill {
        let bill_id = self.next_bill_id(ts);
        let bal = self.book(TRADING, ccy, chg, ts);
        TradingBill {
            bill_id,
            bill_type: ty,
            sub_type: sub,
            ts,
            ccy,
            bal_chg: chg,
            bal,
            pos_bal_chg: None,
            pos_bal: None,
            sz: chg.abs(),
            px: None,
            pnl: None,
            fee: None,
            interest: Decimal::ZERO,
            mgn_mode: "",
            inst_type: "",
            inst_id: "",
            ord_id: None,
            exec_type: "",
            from: "",
            to: "",
            notes: "",
            fill_time: Some(ts),
            trade_id: None,
            cl_ord_id: String::new(),
            tag: "",
            fill_idx_px: None,
            fill_mark_px: None,
        }
    }

    pub(super) fn funding_bill(
        &mut self,
        ts: i64,
        ty: &'static str,
        ccy: &'static str,
        chg: Decimal,
        notes: &'static str,
    ) {
        let bill_id = self.next_bill_id(ts);
        let bal = self.book(FUNDING, ccy, chg, ts);
        self.out.funding_bills.push(FundingBill {
            bill_id,
            bill_type: ty,
            ts,
            ccy,
            bal_chg: chg,
            bal,
            notes,
        });
    }

    pub(super) fn apply(&mut self, ts: i64, ev: Ev) {
        match ev {
            Ev::DepositCredit(i) => {
                let (ccy, amt) = (self.out.deposits[i].ccy, self.out.deposits[i].amt);
                let t = self.at(ts);
                self.funding_bill(t, "1", ccy, amt, "Deposit");
            }
            Ev::WithdrawalDebit(i) => self.withdrawal(ts, i),
            Ev::TransferOut {
                slot,
                to_trading,
                ccy,
            } => self.transfer_out(ts, slot, to_trading, ccy),
            Ev::TransferIn { slot, to_trading } => {
                let (ccy, x) = self.slots[slot];
                let t = self.at(ts);
                if to_trading {
                    let mut b = self.trading_bill(t, "1", "11", ccy, x);
                    self.transfer_fields(&mut b, "6", "18");
                    self.out.trading_bills.push(b);
                } else {
                    self.funding_bill(t, "130", ccy, x, "Transferred from trading account");
                }
            }
            Ev::Spot {
                inst,
                buy,
                fills,
                maker,
                sell_all,
            } => {
                self.spot(ts, inst, buy, fills, maker, sell_all);
            }
            Ev::Swap {
                contracts,
                act,
                maker,
            } => self.swap(ts, contracts, act, maker),
            Ev::SwapFunding => self.swap_funding(ts),
            Ev::Futures {
                contracts,
                close,
                maker,
            } => self.futures(ts, contracts, close, maker),
            Ev::Delivery => self.delivery(ts),
            Ev::Interest => {
                let amt = self.rdec(50, 1500, 2);
                let t = self.at(ts);
                let mut b = self.trading_bill(t, "7", "9", "USDT", -amt);
                b.interest = amt;
                b.mgn_mode = "cross";
                self.out.trading_bills.push(b);
            }
            Ev::Convert(i) => self.convert(ts, i),
            Ev::FiatConvert(i) => self.fiat_convert(ts, i),
            Ev::DcdSubscribe(i) => self.dcd_subscribe(ts, i),
            Ev::DcdSettle(i) => self.dcd_settle(ts, i),
            Ev::RetryHold { canceled, retried } => {
                let avail = self.balance(FUNDING, "USDT") - reserve("USDT");
                let w = &self.out.withdrawals[canceled];
                let amt = floor_dp((avail - w.fee) / Decimal::TEN, 4).max(Decimal::from(10));
                self.out.withdrawals[canceled].amt = amt;
                self.out.withdrawals[retried].amt = amt;
                let total = amt + self.out.withdrawals[canceled].fee;
                let t = self.at(ts);
                self.funding_bill(t, "2", "USDT", -total, "Withdrawal");
            }
            Ev::RetryRefund(i) => {
                let total = self.out.withdrawals[i].amt + self.out.withdrawals[i].fee;
                let t = self.at(ts);
                self.funding_bill(t, "13", "USDT", total, "Canceled withdrawal");
            }
            Ev::RetryDebit(i) => {
                let total = self.out.withdrawals[i].amt + self.out.withdrawals[i].fee;
                let t = self.at(ts);
                self.funding_bill(t, "2", "USDT", -total, "Withdrawal");
            }
            Ev::EarnSubscribe => {
                let avail = self.balance(FUNDING, "USDT") - reserve("USDT");
                let f = self.pct(10, 25);
                let x = floor_dp(avail * f, 2).max(Decimal::ONE);
                let t = self.at(ts);
                self.funding_bill(t, "75", "USDT", -x, "Simple earn flexible subscription");
                self.savings.entry("USDT").or_default().amt += x;
            }
            Ev::EarnRedeem => {
                let held = self.savings.get("USDT").map(|s| s.amt).unwrap_or_default();
                let f = self.pct(20, 60);
                let mut y = floor_dp(held * f, 2);
                if y.is_zero() {
                    y = held;
                }
                let t = self.at(ts);
                self.funding_bill(t, "76", "USDT", y, "Simple earn flexible redemption");
                self.savings.entry("USDT").or_default().amt -= y;
            }
            Ev::Income { ty, ccy } => {
                let t = self.at(ts);
                self.income(t, ty, ccy);
            }
            Ev::IncomeBatch => {
                let t = self.at(ts);
                for (ty, ccy) in INCOME_BATCH {
                    self.income(t, ty, ccy);
                }
            }
            Ev::Unknown => {
                let t = self.at(ts);
                let b = self.trading_bill(t, "999", "9999", "USDT", Decimal::new(5, 1));
                self.out.trading_bills.push(b);
            }
        }
    }

    pub(super) fn income(&mut self, t: i64, ty: &'static str, ccy: &'static str) {
        let (amt, notes) = match (ty, ccy) {
            ("400", _) => {
                let held = self.savings.get("USDT").map(|s| s.amt).unwrap_or_default();
                let r = self.rdec(1, 8, 4);
                let amt = (held * r).round_dp(8).max(Decimal::new(1, 2));
                self.savings.entry("USDT").or_default().earnings += amt;
                (amt, "Auto lend interest")
            }
            ("83", "ETH") => (self.rdec(500, 10_000, 6), "Staking yield"),
            ("83", _) => (self.rdec(10_000, 200_000, 6), "Staking yield"),
            ("229", _) => (self.rdec(500, 5_000, 3), "Airdrop"),
            ("151", _) => (self.rdec(100, 3_000, 2), "Referral reward"),
            _ => (self.rdec(50, 2_000, 2), "Fee rebate"),
        };
        self.funding_bill(t, ty, ccy, amt, notes);
    }
}
