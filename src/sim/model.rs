//! The simulated account's records (the ground truth) and their OKX wire rendering.
//!
//! Records are plain typed structs (cheap enough for the Bench size); `to_json` renders one
//! exactly like OKX does: every number a string, `""` for not applicable, ids as strings.

use rust_decimal::Decimal;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Account names used as the first half of a balance key.
pub const TRADING: &str = "trading";
pub const FUNDING: &str = "funding";
pub const EARN: &str = "earn";

/// Plain decimal text without trailing zeros (`"0"` for zero).
pub(crate) fn dec(d: Decimal) -> String {
    if d.is_zero() {
        "0".to_string()
    } else {
        d.normalize().to_string()
    }
}

/// Decimal text with exactly 16 fractional digits, like OKX trading bills' `bal`/`balChg`.
pub(crate) fn dec16(d: Decimal) -> String {
    if d.is_zero() {
        return "0.0000000000000000".to_string();
    }
    let mut x = d;
    x.rescale(16);
    x.to_string()
}

pub(crate) fn opt_dec(d: Option<Decimal>) -> String {
    d.map(dec).unwrap_or_default()
}

fn opt_num<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// Builds a JSON object from `key => value` pairs (no recursion limit trouble like `json!`).
macro_rules! obj {
    ($($k:literal => $v:expr),* $(,)?) => {{
        let mut m = Map::new();
        $(m.insert($k.to_string(), Value::from($v));)*
        Value::Object(m)
    }};
}
pub(crate) use obj;

/// One fill (`trade/fills`, `trade/fills-history`).
#[derive(Debug, Clone, PartialEq)]
pub struct SimFill {
    pub inst_type: &'static str,
    pub inst_id: &'static str,
    /// Negative for liquidation fills.
    pub trade_id: i64,
    pub ord_id: u64,
    pub cl_ord_id: String,
    /// The bill this fill created on its received (SPOT) or settlement (derivatives) side.
    pub bill_id: u64,
    pub sub_type: &'static str,
    pub fill_px: Decimal,
    /// Base currency for SPOT, contracts for SWAP/FUTURES.
    pub fill_sz: Decimal,
    pub fill_pnl: Decimal,
    pub side: &'static str,
    pub pos_side: &'static str,
    pub exec_type: &'static str,
    pub fee_ccy: &'static str,
    /// Negative = charged, positive = rebate.
    pub fee: Decimal,
    pub fee_rate: Option<Decimal>,
    pub fill_idx_px: Option<Decimal>,
    pub fill_mark_px: Option<Decimal>,
    pub ts: i64,
    pub fill_time: i64,
    pub trade_quote_ccy: &'static str,
}

impl SimFill {
    pub fn to_json(&self) -> Value {
        obj! {
            "instType" => self.inst_type,
            "instId" => self.inst_id,
            "tradeId" => self.trade_id.to_string(),
            "ordId" => self.ord_id.to_string(),
            "clOrdId" => self.cl_ord_id.clone(),
            "billId" => self.bill_id.to_string(),
            "subType" => self.sub_type,
            "tag" => "",
            "fillPx" => dec(self.fill_px),
            "fillSz" => dec(self.fill_sz),
            "fillPnl" => dec(self.fill_pnl),
            "fillIdxPx" => opt_dec(self.fill_idx_px),
            "fillMarkPx" => opt_dec(self.fill_mark_px),
            "fillPxVol" => "",
            "fillPxUsd" => "",
            "fillMarkVol" => "",
            "fillFwdPx" => "",
            "side" => self.side,
            "posSide" => self.pos_side,
            "execType" => self.exec_type,
            "feeCcy" => self.fee_ccy,
            "fee" => dec(self.fee),
            "feeRate" => opt_dec(self.fee_rate),
            "ts" => self.ts.to_string(),
            "fillTime" => self.fill_time.to_string(),
            "tradeQuoteCcy" => self.trade_quote_ccy,
        }
    }
}

/// One trading-account bill (`account/bills`, `bills-archive`, quarterly archive files).
#[derive(Debug, Clone, PartialEq)]
pub struct TradingBill {
    pub bill_id: u64,
    pub bill_type: &'static str,
    pub sub_type: &'static str,
    pub ts: i64,
    pub ccy: &'static str,
    pub bal_chg: Decimal,
    /// Trading-account balance of `ccy` after this bill.
    pub bal: Decimal,
    pub pos_bal_chg: Option<Decimal>,
    pub pos_bal: Option<Decimal>,
    pub sz: Decimal,
    pub px: Option<Decimal>,
    pub pnl: Option<Decimal>,
    pub fee: Option<Decimal>,
    pub interest: Decimal,
    pub mgn_mode: &'static str,
    pub inst_type: &'static str,
    pub inst_id: &'static str,
    pub ord_id: Option<u64>,
    pub exec_type: &'static str,
    pub from: &'static str,
    pub to: &'static str,
    pub notes: &'static str,
    pub fill_time: Option<i64>,
    pub trade_id: Option<i64>,
    pub cl_ord_id: String,
    pub tag: &'static str,
    pub fill_idx_px: Option<Decimal>,
    pub fill_mark_px: Option<Decimal>,
}

/// Columns of the quarterly bills archive CSV, in OKX's order (no type/from/to/notes).
pub const ARCHIVE_CSV_COLUMNS: [&str; 28] = [
    "instType",
    "billId",
    "subType",
    "ts",
    "balChg",
    "posBalChg",
    "bal",
    "posBal",
    "sz",
    "px",
    "ccy",
    "pnl",
    "fee",
    "mgnMode",
    "instId",
    "ordId",
    "execType",
    "interest",
    "tag",
    "fillTime",
    "tradeId",
    "clOrdId",
    "fillIdxPx",
    "fillMarkPx",
    "fillPxVol",
    "fillPxUsd",
    "fillMarkVol",
    "fillFwdPx",
];

impl TradingBill {
    pub fn to_json(&self) -> Value {
        obj! {
            "bal" => dec16(self.bal),
            "balChg" => dec16(self.bal_chg),
            "billId" => self.bill_id.to_string(),
            "ccy" => self.ccy,
            "clOrdId" => self.cl_ord_id.clone(),
            "earnAmt" => "",
            "earnApr" => "",
            "execType" => self.exec_type,
            "fee" => opt_dec(self.fee),
            "fillFwdPx" => "",
            "fillIdxPx" => opt_dec(self.fill_idx_px),
            "fillMarkPx" => opt_dec(self.fill_mark_px),
            "fillMarkVol" => "",
            "fillPxUsd" => "",
            "fillPxVol" => "",
            "fillTime" => opt_num(self.fill_time),
            "from" => self.from,
            "instId" => self.inst_id,
            "instType" => self.inst_type,
            "interest" => dec(self.interest),
            "mgnMode" => self.mgn_mode,
            "notes" => self.notes,
            "ordId" => opt_num(self.ord_id),
            "pnl" => opt_dec(self.pnl),
            "posBal" => opt_dec(self.pos_bal),
            "posBalChg" => opt_dec(self.pos_bal_chg),
            "px" => opt_dec(self.px),
            "subType" => self.sub_type,
            "sz" => dec(self.sz),
            "tag" => self.tag,
            "to" => self.to,
            "tradeId" => opt_num(self.trade_id),
            "ts" => self.ts.to_string(),
            "type" => self.bill_type,
        }
    }

    /// One archive CSV row, columns as [`ARCHIVE_CSV_COLUMNS`].
    pub fn csv_row(&self) -> [String; 28] {
        [
            self.inst_type.to_string(),
            self.bill_id.to_string(),
            self.sub_type.to_string(),
            self.ts.to_string(),
            dec16(self.bal_chg),
            opt_dec(self.pos_bal_chg),
            dec16(self.bal),
            opt_dec(self.pos_bal),
            dec(self.sz),
            opt_dec(self.px),
            self.ccy.to_string(),
            opt_dec(self.pnl),
            opt_dec(self.fee),
            self.mgn_mode.to_string(),
            self.inst_id.to_string(),
            opt_num(self.ord_id),
            self.exec_type.to_string(),
            dec(self.interest),
            self.tag.to_string(),
            opt_num(self.fill_time),
            opt_num(self.trade_id),
            self.cl_ord_id.clone(),
            opt_dec(self.fill_idx_px),
            opt_dec(self.fill_mark_px),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]
    }
}

/// One funding-account bill (`asset/bills`, `asset/bills-history`).
#[derive(Debug, Clone, PartialEq)]
pub struct FundingBill {
    pub bill_id: u64,
    pub bill_type: &'static str,
    pub ts: i64,
    pub ccy: &'static str,
    pub bal_chg: Decimal,
    /// Funding-account balance of `ccy` after this bill.
    pub bal: Decimal,
    pub notes: &'static str,
}

impl FundingBill {
    pub fn to_json(&self) -> Value {
        obj! {
            "billId" => self.bill_id.to_string(),
            "ccy" => self.ccy,
            "clientId" => "",
            "balChg" => dec(self.bal_chg),
            "bal" => dec(self.bal),
            "type" => self.bill_type,
            "notes" => self.notes,
            "ts" => self.ts.to_string(),
        }
    }
}

/// One deposit (`asset/deposit-history`). Only state `2` has a funding bill (type 1).
#[derive(Debug, Clone, PartialEq)]
pub struct SimDeposit {
    pub dep_id: u64,
    pub ccy: &'static str,
    pub chain: &'static str,
    pub amt: Decimal,
    pub from: String,
    pub to: String,
    pub tx_id: String,
    pub ts: i64,
    pub state: &'static str,
    pub actual_dep_blk_confirm: u32,
    /// `3` internal transfer, `4` on-chain.
    pub dep_type: &'static str,
    /// An internal transfer's withdrawal id at its sender (`fromWdId`).
    pub from_wd_id: Option<u64>,
}

impl SimDeposit {
    pub fn to_json(&self) -> Value {
        obj! {
            "ccy" => self.ccy,
            "chain" => self.chain,
            "amt" => dec(self.amt),
            "from" => self.from.clone(),
            "areaCodeFrom" => "",
            "to" => self.to.clone(),
            "txId" => self.tx_id.clone(),
            "ts" => self.ts.to_string(),
            "state" => self.state,
            "depId" => self.dep_id.to_string(),
            "fromWdId" => self.from_wd_id.map(|w| w.to_string()).unwrap_or_default(),
            "actualDepBlkConfirm" => self.actual_dep_blk_confirm.to_string(),
            "type" => self.dep_type,
        }
    }
}

/// One withdrawal (`asset/withdrawal-history`). Only state `2` has a funding bill (type 2,
/// `balChg = -(amt + fee)`).
#[derive(Debug, Clone, PartialEq)]
pub struct SimWithdrawal {
    pub wd_id: u64,
    pub ccy: &'static str,
    pub chain: &'static str,
    pub amt: Decimal,
    pub fee: Decimal,
    pub ts: i64,
    pub to: String,
    pub tx_id: String,
    pub state: &'static str,
    pub wd_type: &'static str,
}

impl SimWithdrawal {
    pub fn to_json(&self) -> Value {
        obj! {
            "ccy" => self.ccy,
            "chain" => self.chain,
            "nonTradableAsset" => false,
            "amt" => dec(self.amt),
            "ts" => self.ts.to_string(),
            "from" => "",
            "areaCodeFrom" => "",
            "to" => self.to.clone(),
            "areaCodeTo" => "",
            "toAddrType" => "1",
            "tag" => "",
            "pmtId" => "",
            "memo" => "",
            "txId" => self.tx_id.clone(),
            "fee" => dec(self.fee),
            "feeCcy" => self.ccy,
            "state" => self.state,
            "wdId" => self.wd_id.to_string(),
            "clientId" => "",
            "note" => "",
            "type" => self.wd_type,
        }
    }
}

/// One convert (`asset/convert/history`). `fullyFilled` ones have trading bills type 27
/// (318 in / 319 out) carrying this `tradeId`; `rejected` ones have none.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConvert {
    pub trade_id: u64,
    pub cl_t_req_id: String,
    pub state: &'static str,
    pub inst_id: &'static str,
    pub base_ccy: &'static str,
    pub quote_ccy: &'static str,
    pub side: &'static str,
    pub fill_px: Decimal,
    pub fill_base_sz: Decimal,
    pub fill_quote_sz: Decimal,
    pub ts: i64,
}

impl SimConvert {
    pub fn to_json(&self) -> Value {
        obj! {
            "tradeId" => self.trade_id.to_string(),
            "clTReqId" => self.cl_t_req_id.clone(),
            "state" => self.state,
            "instId" => self.inst_id,
            "baseCcy" => self.base_ccy,
            "quoteCcy" => self.quote_ccy,
            "side" => self.side,
            "fillPx" => dec(self.fill_px),
            "fillBaseSz" => dec(self.fill_base_sz),
            "fillQuoteSz" => dec(self.fill_quote_sz),
            "ts" => self.ts.to_string(),
        }
    }
}

/// One Dual Investment order (`finance/sfp/dcd/order-history`). Assumption: OKX's docs name
/// the order's notional, strike, settle price, settle currency and yield but not every field
/// name; the shape below (`ordId`, `productId`, `notionalSz`/`notionalCcy`, `strike`,
/// `settlePx`, `settleCcy`, `settleSz` = principal settled excluding yield, `yieldSz` paid in
/// `settleCcy`, `cTime`/`settleTime`/`uTime` in ms) is assumed. Its funding bills: 160
/// (−notional) at `cTime`; 161 (+`settleSz` of `settleCcy`) and 162 (+`yieldSz`) at
/// `settleTime`.
#[derive(Debug, Clone, PartialEq)]
pub struct SimDcdOrder {
    pub ord_id: u64,
    pub product_id: String,
    pub base_ccy: &'static str,
    pub quote_ccy: &'static str,
    /// `P` (buy low: USDT in, base out when below strike) or `C` (sell high).
    pub opt_type: &'static str,
    pub notional_ccy: &'static str,
    pub notional_sz: Decimal,
    pub strike: Decimal,
    pub annualized_yield: Decimal,
    pub settle_px: Decimal,
    pub settle_ccy: &'static str,
    pub settle_sz: Decimal,
    pub yield_sz: Decimal,
    pub c_time: i64,
    pub settle_time: i64,
}

impl SimDcdOrder {
    pub fn to_json(&self) -> Value {
        obj! {
            "ordId" => self.ord_id.to_string(),
            "clOrdId" => "",
            "productId" => self.product_id.clone(),
            "state" => "settled",
            "baseCcy" => self.base_ccy,
            "quoteCcy" => self.quote_ccy,
            "optType" => self.opt_type,
            "notionalCcy" => self.notional_ccy,
            "notionalSz" => dec(self.notional_sz),
            "strike" => dec(self.strike),
            "annualizedYield" => dec(self.annualized_yield),
            "settlePx" => dec(self.settle_px),
            "settleCcy" => self.settle_ccy,
            "settleSz" => dec(self.settle_sz),
            "yieldSz" => dec(self.yield_sz),
            "cTime" => self.c_time.to_string(),
            "settleTime" => self.settle_time.to_string(),
            "uTime" => self.settle_time.to_string(),
        }
    }
}

/// Simple-earn holding of one currency: `amt` = subscribed − redeemed; `earnings` = the
/// type-400 interest paid to the funding account.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SavingsHolding {
    pub amt: Decimal,
    pub earnings: Decimal,
}

/// An open derivatives position at the end of the data (net mode).
#[derive(Debug, Clone, PartialEq)]
pub struct SimPosition {
    pub inst_id: &'static str,
    /// Signed contracts (+ long, − short).
    pub contracts: i64,
    pub avg_px: Decimal,
    pub ct_val: Decimal,
}

/// Records sharing one exact `ts` at a page boundary of a time-cursored stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SameMsGroup {
    /// `deposits`, `withdrawals`, `converts` or `funding-bills`.
    pub stream: &'static str,
    pub ts: i64,
    /// 0-based positions in the stream's newest-first order (inclusive).
    pub first: usize,
    pub last: usize,
}

/// The whole generated account. Every vector is sorted oldest first (by id, which grows
/// with time); the API answers newest first.
#[derive(Debug, Clone, Default)]
pub struct AccountData {
    pub fills: Vec<SimFill>,
    pub trading_bills: Vec<TradingBill>,
    pub funding_bills: Vec<FundingBill>,
    pub deposits: Vec<SimDeposit>,
    pub withdrawals: Vec<SimWithdrawal>,
    pub converts: Vec<SimConvert>,
    /// Dual Investment orders, oldest first (by `ordId`, which grows with `cTime`).
    pub dcd_orders: Vec<SimDcdOrder>,
    /// Final balance per (`trading`/`funding`/`earn`, ccy); zero balances are kept out.
    pub balances: BTreeMap<(&'static str, &'static str), Decimal>,
    /// Last bill time per (account, ccy), for `uTime`.
    pub balance_times: BTreeMap<(&'static str, &'static str), i64>,
    pub savings: BTreeMap<&'static str, SavingsHolding>,
    pub positions: Vec<SimPosition>,
    /// Last USD(T) price per ccy at the end of the data (for valuation fields).
    pub last_prices: BTreeMap<&'static str, Decimal>,
    /// A master's transfers with its sub-accounts (`asset/subaccount/bills`), oldest first.
    pub sub_transfers: Vec<SimSubTransfer>,
}

/// One master↔sub transfer as the master sees it in `asset/subaccount/bills`.
#[derive(Debug, Clone, PartialEq)]
pub struct SimSubTransfer {
    pub bill_id: u64,
    pub ccy: &'static str,
    /// Unsigned.
    pub amt: Decimal,
    /// `true`: master → sub (`type` 0); `false`: sub → master (`type` 1).
    pub to_sub: bool,
    pub sub_acct: String,
    pub ts: i64,
}

impl SimSubTransfer {
    pub fn to_json(&self) -> Value {
        obj! {
            "billId" => self.bill_id.to_string(),
            "ccy" => self.ccy,
            "amt" => dec(self.amt),
            "type" => if self.to_sub { "0" } else { "1" },
            "subAcct" => self.sub_acct.clone(),
            "ts" => self.ts.to_string(),
        }
    }
}

impl AccountData {
    /// Balance of one (account, ccy); zero when absent.
    pub fn balance(&self, account: &str, ccy: &str) -> Decimal {
        self.balances
            .iter()
            .find(|((a, c), _)| *a == account && *c == ccy)
            .map(|(_, v)| *v)
            .unwrap_or_default()
    }

    /// The same-millisecond groups at the 100-record page boundary (positions 99/100 in
    /// newest-first order) of the four time-cursored streams.
    pub fn same_ms_groups(&self) -> Vec<SameMsGroup> {
        let streams: [(&'static str, Vec<i64>); 4] = [
            ("deposits", self.deposits.iter().map(|d| d.ts).collect()),
            ("withdrawals", self.withdrawals.iter().map(|w| w.ts).collect()),
            ("converts", self.converts.iter().map(|c| c.ts).collect()),
            ("funding-bills", self.funding_bills.iter().map(|b| b.ts).collect()),
        ];
        let mut out = Vec::new();
        for (stream, mut ts) in streams {
            ts.sort_unstable_by(|a, b| b.cmp(a));
            if let Some((first, last)) = boundary_group(&ts, 100) {
                out.push(SameMsGroup {
                    stream,
                    ts: ts[first],
                    first,
                    last,
                });
            }
        }
        out
    }
}

/// The run of equal values around `boundary - 1` and `boundary` in `desc`, if those two are
/// equal (i.e. a group that straddles the page boundary).
pub(crate) fn boundary_group(desc: &[i64], boundary: usize) -> Option<(usize, usize)> {
    if desc.len() <= boundary || desc[boundary - 1] != desc[boundary] {
        return None;
    }
    let v = desc[boundary];
    let mut first = boundary - 1;
    while first > 0 && desc[first - 1] == v {
        first -= 1;
    }
    let mut last = boundary;
    while last + 1 < desc.len() && desc[last + 1] == v {
        last += 1;
    }
    Some((first, last))
}
