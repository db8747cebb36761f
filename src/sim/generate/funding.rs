//! What the generator makes in the funding account: deposits and withdrawals (with their
//! chains, addresses, hashes and fees), transfers between funding and trading, and
//! crypto↔fiat converts (funding types 272/273).

use super::{Gen, ccy_dp, floor_dp};
use crate::sim::model::{FUNDING, SimDeposit, SimWithdrawal, TRADING, TradingBill};
use rand::Rng;
use rust_decimal::Decimal;

/// Funding balance kept back from transfers, withdrawals and subscriptions.
pub(super) fn reserve(ccy: &str) -> Decimal {
    if ccy == "USDT" {
        Decimal::from(1000)
    } else {
        Decimal::ZERO
    }
}

const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

pub(super) const HEX: &[u8] = b"0123456789abcdef";

const LOWER: &[u8] = b"023456789acdefghjklmnpqrstuvwxyz";

/// Withdrawal fee per chain (in the withdrawn currency).
pub(super) fn chain_fee(chain: &str) -> Decimal {
    match chain {
        "USDT-TRC20" => Decimal::ONE,
        "USDT-ERC20" => Decimal::from(3),
        "BTC-Bitcoin" => Decimal::new(1, 4),
        "ETH-ERC20" => Decimal::new(8, 4),
        "SOL-Solana" => Decimal::new(8, 3),
        _ => Decimal::ZERO,
    }
}

pub(super) fn confirmations(chain: &str) -> u32 {
    match chain {
        "USDT-TRC20" => 20,
        "BTC-Bitcoin" => 2,
        "SOL-Solana" => 32,
        _ => 64,
    }
}

impl Gen {
    pub(super) fn chars(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| alphabet[self.rng.random_range(0..alphabet.len())] as char)
            .collect()
    }

    pub(super) fn address(&mut self, chain: &str) -> String {
        match chain {
            "USDT-TRC20" => format!("T{}", self.chars(BASE58, 33)),
            "USDT-ERC20" | "ETH-ERC20" => format!("0x{}", self.chars(HEX, 40)),
            "BTC-Bitcoin" => format!("bc1q{}", self.chars(LOWER, 38)),
            _ => self.chars(BASE58, 44),
        }
    }

    pub(super) fn tx_id(&mut self, chain: &str) -> String {
        match chain {
            "USDT-ERC20" | "ETH-ERC20" => format!("0x{}", self.chars(HEX, 64)),
            "SOL-Solana" => self.chars(BASE58, 88),
            _ => self.chars(HEX, 64),
        }
    }

    pub(super) fn masked_email(&mut self) -> String {
        let user = self.chars(b"abcdefghijklmnopqrstuvwxyz", 2);
        let domain = ["gmail.com", "outlook.com", "proton.me"][self.rng.random_range(0..3)];
        format!("{user}****@{domain}")
    }

    pub(super) fn chain_for(&mut self, ccy: &str) -> &'static str {
        match ccy {
            "USDT" => {
                if self.rng.random_bool(0.7) {
                    "USDT-TRC20"
                } else {
                    "USDT-ERC20"
                }
            }
            "BTC" => "BTC-Bitcoin",
            "ETH" => "ETH-ERC20",
            _ => "SOL-Solana",
        }
    }

    pub(super) fn pick_ccy(&mut self, weights: &[(&'static str, u32)]) -> &'static str {
        let total: u32 = weights.iter().map(|w| w.1).sum();
        let mut r = self.rng.random_range(0..total);
        for (c, w) in weights {
            if r < *w {
                return c;
            }
            r -= w;
        }
        weights[0].0
    }

    pub(super) fn deposit_amount(&mut self, ccy: &str) -> Decimal {
        match ccy {
            "USDT" => self.rdec(5_000, 500_000, 2),
            "BTC" => self.rdec(100_000, 5_000_000, 8),
            "ETH" => self.rdec(10_000_000, 300_000_000, 8),
            _ => self.rdec(1_000_000, 100_000_000, 6),
        }
    }

    pub(super) fn new_deposit(
        &mut self,
        ts: i64,
        ccy: &'static str,
        amt: Decimal,
        state: &'static str,
    ) -> SimDeposit {
        let chain = self.chain_for(ccy);
        let internal = state == "2" && self.rng.random_bool(0.1);
        let (from, to, tx_id, dep_type) = if internal {
            (self.masked_email(), String::new(), String::new(), "3")
        } else {
            (String::new(), self.address(chain), self.tx_id(chain), "4")
        };
        let confirm = match (internal, state) {
            (true, _) => 0,
            (false, "0") => self.rng.random_range(0..3),
            _ => confirmations(chain),
        };
        SimDeposit {
            dep_id: 0,
            ccy,
            chain,
            amt,
            from,
            to,
            tx_id,
            ts,
            state,
            actual_dep_blk_confirm: confirm,
            dep_type,
            from_wd_id: None,
        }
    }

    pub(super) fn new_withdrawal(
        &mut self,
        ts: i64,
        ccy: &'static str,
        state: &'static str,
    ) -> SimWithdrawal {
        let chain = self.chain_for(ccy);
        let internal = self.rng.random_bool(0.08);
        let amt = self.deposit_amount(ccy) / Decimal::from(2);
        let (to, tx_id, wd_type, fee) = if internal {
            (self.masked_email(), String::new(), "3", Decimal::ZERO)
        } else {
            let to = self.address(chain);
            let tx = if state == "2" {
                self.tx_id(chain)
            } else {
                String::new()
            };
            (to, tx, "4", chain_fee(chain))
        };
        SimWithdrawal {
            wd_id: 0,
            ccy,
            chain,
            amt,
            fee,
            ts,
            to,
            tx_id,
            state,
            wd_type,
        }
    }

    pub(super) fn withdrawal(&mut self, ts: i64, i: usize) {
        let w = self.out.withdrawals[i].clone();
        let dp = ccy_dp(w.ccy);
        let f = self.pct(5, 20);
        let avail = self.balance(FUNDING, w.ccy) - reserve(w.ccy) - w.fee;
        let mut amt = floor_dp(avail * f, dp);
        let mut w = w;
        let min = if w.ccy == "USDT" {
            Decimal::from(10)
        } else {
            Decimal::new(1, 4)
        };
        if amt < min {
            // Not enough of the planned currency: withdraw USDT instead.
            w.ccy = "USDT";
            w.chain = "USDT-TRC20";
            if w.wd_type == "4" {
                w.fee = chain_fee(w.chain);
                w.to = self.address(w.chain);
                w.tx_id = self.tx_id(w.chain);
            }
            let avail = self.balance(FUNDING, "USDT") - reserve("USDT") - w.fee;
            amt = floor_dp(avail * f, 4).max(Decimal::from(10));
        }
        w.amt = amt;
        let t = self.at(ts);
        self.funding_bill(t, "2", w.ccy, -(w.amt + w.fee), "Withdrawal");
        self.out.withdrawals[i] = w;
    }

    pub(super) fn transfer_fields(&mut self, b: &mut TradingBill, from: &'static str, to: &'static str) {
        b.from = from;
        b.to = to;
        b.trade_id = Some(0);
        b.fill_time = Some(b.ts + self.rng.random_range(50..300));
    }

    pub(super) fn transfer_out(&mut self, ts: i64, slot: usize, to_trading: bool, ccy: &'static str) {
        let f = self.pct(5, 30);
        let source = if to_trading { FUNDING } else { TRADING };
        let amount = |g: &Gen, ccy: &'static str| {
            let avail = g.balance(source, ccy) - if to_trading { reserve(ccy) } else { Decimal::ZERO };
            floor_dp(avail * f, ccy_dp(ccy))
        };
        let mut ccy = ccy;
        let mut x = amount(self, ccy);
        if x <= Decimal::ZERO {
            ccy = "USDT";
            x = amount(self, ccy).max(Decimal::ONE);
        }
        self.slots[slot] = (ccy, x);
        let t = self.at(ts);
        if to_trading {
            self.funding_bill(t, "131", ccy, -x, "Transferred to trading account");
        } else {
            let mut b = self.trading_bill(t, "1", "12", ccy, -x);
            self.transfer_fields(&mut b, "18", "6");
            self.out.trading_bills.push(b);
        }
    }

    /// A crypto↔fiat convert in the funding account: two bills of one type (272 buy crypto,
    /// 273 sell crypto) at one millisecond and its convert-history record. A sell converts
    /// a tenth of the funding BTC (at most 0.1), a buy spends all funding EUR; with nothing
    /// to convert the record is `rejected` and there are no bills.
    pub(super) fn fiat_convert(&mut self, ts: i64, i: usize) {
        let mut rec = self.out.converts[i].clone();
        // EUR per USD, fixed: the simulator's price book has no fiat.
        let eur_per_usd = Decimal::new(92, 2);
        let px = (self.prices.usd(rec.base_ccy, ts) * eur_per_usd).round_dp(2);
        let buy = rec.side == "buy";
        let (base, quote) = if buy {
            let quote = self.balance(FUNDING, rec.quote_ccy);
            (floor_dp(quote / px, 8), quote)
        } else {
            let base =
                floor_dp(self.balance(FUNDING, rec.base_ccy) / Decimal::TEN, 8).min(Decimal::new(1, 1));
            (base, floor_dp(base * px, 2))
        };
        rec.fill_px = px;
        if base <= Decimal::ZERO || quote <= Decimal::ZERO {
            rec.state = "rejected";
            self.out.converts[i] = rec;
            return;
        }
        rec.fill_base_sz = base;
        rec.fill_quote_sz = quote;
        let t = self.at(ts);
        let (ty, legs) = if buy {
            ("272", [(rec.quote_ccy, -quote), (rec.base_ccy, base)])
        } else {
            ("273", [(rec.base_ccy, -base), (rec.quote_ccy, quote)])
        };
        let notes = if buy {
            "Convert: buy crypto"
        } else {
            "Convert: sell crypto"
        };
        for (ccy, chg) in legs {
            self.funding_bill(t, ty, ccy, chg, notes);
        }
        self.out.converts[i] = rec;
    }
}
