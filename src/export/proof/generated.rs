//! The accounts the proof runs on: the demo account and a generated one with every kind
//! and shape.

use crate::export::testdata::{dec, ts};
use crate::model::{Account, Amount, Kind, Transaction};
use rust_decimal::Decimal;
use std::path::Path;

/// `tests/expected/transactions.csv` (the demo account) parsed back into rows.
pub(crate) fn demo() -> Vec<Transaction> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/expected/transactions.csv");
    let mut reader = csv::Reader::from_path(path).unwrap();
    let h = reader.headers().unwrap().clone();
    assert_eq!(h.iter().collect::<Vec<_>>(), crate::export::TRANSACTIONS_HEADER);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let amt = |a: &str, c: &str| (!a.is_empty()).then(|| Amount::new(dec(a), c));
    rows.iter()
        .map(|r| {
            let mut t = Transaction::new(
                &r[0],
                ts(&r[1]),
                Account::parse(&r[2]).unwrap(),
                Kind::parse(&r[3]).unwrap(),
                &r[18],
                &r[19],
            );
            (t.sent, t.received, t.fee) = (amt(&r[4], &r[5]), amt(&r[6], &r[7]), amt(&r[8], &r[9]));
            (t.instrument, t.side, t.price) = (opt(&r[10]), opt(&r[11]), opt(&r[12]).map(|p| dec(&p)));
            (t.order_id, t.trade_id, t.tx_hash) = (opt(&r[13]), opt(&r[14]), opt(&r[15]));
            (t.address, t.chain, t.note) = (opt(&r[16]), opt(&r[17]), opt(&r[20]));
            t
        })
        .collect()
}

/// A deterministic account with every kind and every shape the writers distinguish: spot
/// fills with the fee in the bought coin, in the sold coin and in a third coin; maker fills
/// followed by their rebate; two fills of one order in the same second with the same fee;
/// converts (no instrument, no order); spot-margin interest and a paired liquidation;
/// swap, futures and option fees, PnL, funding both ways, liquidations, option premiums and
/// delivery; deposits and withdrawals with chain, address and hash (some with a fee); fiat
/// in and out; earn, staking, airdrops, referral, other income, funding-account rebates;
/// internal transfers and unclassified rows. Amounts have up to 12 decimals.
pub(crate) fn generated(seed: u64, n: usize) -> Vec<Transaction> {
    let mut x = seed | 1;
    let mut rnd = move |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    let mut out = Vec::new();
    let t0 = 1_735_689_600_000i64; // 2025-01-01
    let mut id = 5_000_000u64;
    let coins = ["BTC", "ETH", "SOL", "OKB", "USDT", "USDC"];
    for i in 0..n {
        let time =
            chrono::DateTime::from_timestamp_millis(t0 + i as i64 * 3_600_000 + rnd(900_000) as i64).unwrap();
        let amount = |rnd: &mut dyn FnMut(u64) -> u64| {
            let scale = rnd(13) as u32;
            Decimal::new(1 + rnd(50_000_000) as i64, scale.min(12))
        };
        id += 10;
        let mut t = Transaction::new(
            format!("tb-{id}"),
            time,
            Account::Trading,
            Kind::Trade,
            "account/bills",
            id.to_string(),
        );
        let pick = rnd(30);
        let base = coins[rnd(4) as usize];
        let order = Some(format!("o-{id}"));
        match pick {
            0..=7 => {
                // Spot fill: fee in the received coin, or the sold coin, or OKB; maker
                // fills get a rebate row right after; some orders fill twice in one second.
                let buy = rnd(2) == 0;
                let (s, r) = if buy { ("USDT", base) } else { (base, "USDT") };
                t.instrument = Some(format!("{base}-USDT"));
                t.side = Some(if buy { "buy" } else { "sell" }.into());
                t.order_id = order.clone();
                t.trade_id = Some(format!("{id}"));
                t.sent = Some(Amount::new(amount(&mut rnd), s));
                t.received = Some(Amount::new(amount(&mut rnd), r));
                let maker = rnd(3) == 0;
                if !maker {
                    let fee_coin = match rnd(5) {
                        0 => "OKB",
                        1 => s,
                        _ => r,
                    };
                    let f = t.received.as_ref().unwrap().amount / Decimal::from(1000);
                    t.fee = Some(Amount::new(f.round_dp(12).max(Decimal::new(1, 12)), fee_coin));
                }
                let twice = rnd(4) == 0;
                out.push(t.clone());
                if twice {
                    let mut t2 = t.clone();
                    t2.id = format!("tb-{}", id + 1);
                    t2.trade_id = Some(format!("{}", id + 1));
                    let ms = i64::from(t.time.timestamp_subsec_millis() < 999);
                    t2.time = t.time + chrono::Duration::milliseconds(ms);
                    out.push(t2);
                }
                if maker {
                    let mut rb = Transaction::new(
                        format!("{}:rebate", t.id),
                        t.time,
                        Account::Trading,
                        Kind::Rebate,
                        "account/bills",
                        id.to_string(),
                    );
                    rb.instrument = t.instrument.clone();
                    rb.order_id = order.clone();
                    rb.received = Some(Amount::new(Decimal::new(1 + rnd(99_999) as i64, 10), r));
                    out.push(rb);
                }
                continue;
            }
            8 => {
                // Convert: no instrument, no order, no fee.
                let (s, r) = (coins[rnd(6) as usize], coins[rnd(6) as usize]);
                if s == r {
                    continue;
                }
                t.sent = Some(Amount::new(amount(&mut rnd), s));
                t.received = Some(Amount::new(amount(&mut rnd), r));
                t.source = "asset/convert".into();
                t.account = if rnd(2) == 0 {
                    Account::Funding
                } else {
                    Account::Trading
                };
            }
            9..=11 => {
                // Derivative trading fee (kind `fee`, amount in `sent`) on swap / futures /
                // option, in the settlement coin.
                let (inst, ccy) = match rnd(3) {
                    0 => ("BTC-USDT-SWAP", "USDT"),
                    1 => ("BTC-USD-251226", "BTC"),
                    _ => ("BTC-USD-251226-100000-C", "BTC"),
                };
                t.id = format!("tb-{id}:fee");
                t.kind = Kind::Fee;
                t.instrument = Some(inst.into());
                t.order_id = order;
                t.sent = Some(Amount::new(amount(&mut rnd) / Decimal::from(100), ccy));
            }
            12 | 13 => {
                t.id = format!("tb-{id}:pnl");
                t.kind = Kind::RealizedPnl;
                let (inst, ccy) = if rnd(2) == 0 {
                    ("ETH-USDT-SWAP", "USDT")
                } else {
                    ("BTC-USD-251226", "BTC")
                };
                t.instrument = Some(inst.into());
                if rnd(2) == 0 {
                    t.sent = Some(Amount::new(amount(&mut rnd), ccy));
                } else {
                    t.received = Some(Amount::new(amount(&mut rnd), ccy));
                }
            }
            14 | 15 => {
                t.kind = Kind::FundingFee;
                t.instrument = Some("BTC-USDT-SWAP".into());
                if rnd(2) == 0 {
                    t.sent = Some(Amount::new(amount(&mut rnd) / Decimal::from(10), "USDT"));
                } else {
                    t.received = Some(Amount::new(amount(&mut rnd) / Decimal::from(10), "USDT"));
                }
            }
            16 => {
                // Liquidation: one-sided on a swap, or a paired forced spot-margin sell.
                t.kind = Kind::Liquidation;
                if rnd(2) == 0 {
                    t.id = format!("tb-{id}:pnl");
                    t.instrument = Some("BTC-USDT-SWAP".into());
                    t.sent = Some(Amount::new(amount(&mut rnd), "USDT"));
                } else {
                    t.instrument = Some("ETH-USDT".into());
                    t.sent = Some(Amount::new(amount(&mut rnd), "ETH"));
                    t.received = Some(Amount::new(amount(&mut rnd), "USDT"));
                    t.fee = Some(Amount::new(Decimal::new(1 + rnd(1000) as i64, 4), "USDT"));
                }
            }
            17 => {
                // Option premium (a one-sided trade on an option) or futures delivery PnL.
                t.instrument = Some("BTC-USD-251226-100000-P".into());
                if rnd(2) == 0 {
                    t.sent = Some(Amount::new(amount(&mut rnd) / Decimal::from(1000), "BTC"));
                } else {
                    t.kind = Kind::RealizedPnl;
                    t.id = format!("tb-{id}:pnl");
                    t.instrument = Some("BTC-USD-251226".into());
                    t.received = Some(Amount::new(amount(&mut rnd) / Decimal::from(1000), "BTC"));
                    t.note = Some("delivery".into());
                }
            }
            18 => {
                // Rebate on a derivative fill (no spot fill to net it into).
                t.id = format!("tb-{id}:rebate");
                t.kind = Kind::Rebate;
                t.instrument = Some("BTC-USDT-SWAP".into());
                t.received = Some(Amount::new(Decimal::new(1 + rnd(99_999) as i64, 8), "USDT"));
            }
            19 => {
                t.kind = Kind::InterestPaid;
                t.sent = Some(Amount::new(Decimal::new(1 + rnd(99_999) as i64, 8), "USDT"));
            }
            20..=22 => {
                // Deposit / withdrawal with chain, address and hash; fiat sometimes.
                t.account = Account::Funding;
                t.id = format!("fb-{id}");
                t.source = "asset/bills".into();
                let fiat = rnd(6) == 0;
                let c = if fiat { "EUR" } else { coins[rnd(6) as usize] };
                if !fiat {
                    t.tx_hash = Some(format!("{:064x}", rnd(u64::MAX)));
                    t.address = Some(format!("addr{}", rnd(1_000_000)));
                    t.chain = Some(format!(
                        "{c}-{}",
                        ["ERC20", "TRC20", "Bitcoin", "Solana"][rnd(4) as usize]
                    ));
                }
                if pick == 20 {
                    t.kind = Kind::Deposit;
                    t.received = Some(Amount::new(amount(&mut rnd), c));
                } else {
                    t.kind = Kind::Withdrawal;
                    t.sent = Some(Amount::new(amount(&mut rnd), c));
                    if !fiat && rnd(3) != 0 {
                        t.fee = Some(Amount::new(Decimal::new(1 + rnd(9999) as i64, 6), c));
                    }
                }
            }
            23..=26 => {
                t.account = if pick == 26 {
                    Account::Funding
                } else {
                    Account::Earn
                };
                t.id = format!("fb-{id}");
                t.source = "asset/bills".into();
                t.kind = [
                    Kind::StakingReward,
                    Kind::EarnInterest,
                    Kind::Airdrop,
                    Kind::ReferralReward,
                    Kind::OtherIncome,
                ][rnd(5) as usize];
                t.received = Some(Amount::new(
                    amount(&mut rnd) / Decimal::from(100),
                    coins[rnd(6) as usize],
                ));
            }
            27 => {
                // Funding-account fee rebate (a payout with no fill).
                t.account = Account::Funding;
                t.id = format!("fb-{id}");
                t.kind = Kind::Rebate;
                t.received = Some(Amount::new(Decimal::new(1 + rnd(9999) as i64, 2), "USDT"));
            }
            28 => {
                // Transfer pair and an unclassified bill.
                t.kind = Kind::Transfer;
                t.sent = Some(Amount::new(amount(&mut rnd), "USDT"));
                let mut t2 = t.clone();
                t2.id = format!("fb-{id}");
                t2.account = Account::Funding;
                (t2.sent, t2.received) = (None, t.sent.clone());
                out.push(t.clone());
                t = t2;
                if rnd(4) == 0 {
                    let mut u = Transaction::new(
                        format!("tb-{}", id + 2),
                        time,
                        Account::Trading,
                        Kind::Unclassified,
                        "account/bills",
                        "x",
                    );
                    u.received = Some(Amount::new(Decimal::ONE, "USDT"));
                    out.push(u);
                }
            }
            _ => {
                // Standalone fee in a third coin (fee column only), spot.
                t.kind = Kind::Fee;
                t.id = format!("tb-{id}:fee");
                t.fee = Some(Amount::new(Decimal::new(1 + rnd(9999) as i64, 5), "OKB"));
            }
        }
        out.push(t);
    }
    out.sort_by_key(|t| t.time);
    out
}
