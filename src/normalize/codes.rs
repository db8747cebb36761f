//! The bill code tables: every OKX trading-account `type`/`subType` (okx-api.md §5.1, §5.2)
//! and every funding-account `type` (§5.4), each mapped to a [`Kind`] in ONE reviewable table
//! per ledger. A code that is not listed is unclassified: its bills become `unclassified` rows
//! and are counted, never guessed.
//!
//! Decisions where OKX's wording leaves room (see also the module doc of `normalize`):
//! - Loan principal (borrow, repay, collateral lock/release) is `transfer`: it moves the
//!   user's own or borrowed units without a disposal; interest on loans is `interest_paid`.
//! - Subscriptions / redemptions / collections / refunds of earn and structured products are
//!   `transfer` (the principal stays the user's); their profit codes are `earn_interest`.
//!   A structured-product collection can arrive in another currency than was subscribed
//!   (dual investment); the row says so in its note so the user can review it.
//! - Income codes keep their kind when the amount is negative (a reversal): the row is then a
//!   `sent` row of that kind.
//! - Gifts: sent = `withdrawal` (to another user), received = `other_income`, refunded =
//!   `deposit` (the gift comes back), so each pair nets out in a tax tool.
//! - Struck-out codes whose meaning OKX never documented (funding 304–309) are not listed.

use crate::model::Kind;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Which column of a trading bill a table entry is for. `subType` decides when the bill has
/// one (the quarterly archive CSV has no `type` column); `type` only when `subType` is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Type,
    SubType,
}

/// How a trading bill becomes rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// One row from `balChg`; a charged fee goes to the fee column, a rebate to a `:rebate` row.
    One,
    /// A fill: for SPOT/MARGIN the two currency legs are paired into one trade row; for a
    /// derivative instrument it is a position bill (see [`How::Pos`]).
    Leg,
    /// Always the leg of a two-currency conversion (convert, easy convert, …): paired.
    Pair,
    /// Derivative position bill: `:pnl`, `:fee`/`:rebate` and `:residual` rows.
    Pos,
    /// Funding fee: amount from `pnl` (or `balChg` when `pnl` is empty).
    FundingFee,
}

use Field::{SubType as S, Type as T};
use How::{FundingFee as FF, Leg, One, Pair, Pos};
use Kind::*;

/// Trading-account bill codes: (column, code, kind, handling, OKX meaning).
#[rustfmt::skip]
pub const TRADING_CODES: &[(Field, &str, Kind, How, &str)] = &[
    // §5.1 bill types (used when a bill has no subType).
    (T, "1", Transfer, One, "Transfer"),
    (T, "2", Trade, Leg, "Trade"),
    (T, "3", RealizedPnl, Pos, "Delivery"),
    (T, "4", Trade, Pair, "Forced repayment / auto token conversion"),
    (T, "5", Liquidation, Leg, "Liquidation"),
    (T, "6", Transfer, One, "Margin transfer"),
    (T, "7", InterestPaid, One, "Interest deduction"),
    (T, "8", FundingFee, FF, "Funding fee"),
    (T, "9", Liquidation, Leg, "ADL"),
    (T, "10", RealizedPnl, One, "Clawback"),
    (T, "11", Trade, Pair, "System token conversion"),
    (T, "12", Transfer, One, "Strategy transfer"),
    (T, "13", Trade, Leg, "DDH"),
    (T, "14", Trade, Leg, "Block trade"),
    (T, "15", Transfer, One, "Quick Margin"),
    (T, "16", Transfer, One, "Borrowing"),
    (T, "22", Transfer, One, "Repay"),
    (T, "24", Trade, Leg, "Spread trading"),
    (T, "26", Transfer, One, "Structured products"),
    (T, "27", Trade, Pair, "Convert"),
    (T, "28", Trade, Pair, "Easy convert"),
    (T, "29", Trade, Pair, "One-click repay"),
    (T, "30", Trade, Pair, "Simple trade"),
    (T, "32", Trade, Leg, "Move position"),
    (T, "33", Transfer, One, "Loans"),
    (T, "34", RealizedPnl, Pos, "Settlement"),
    // Named only by OKX's live dictionary (okx-api.md §12.2, one recorded answer): type 38
    // "USDG rewards" agrees with the documented USDG earn interest (funding 408, trading
    // subType 381), so it is income whatever its subType. Types 20 ("conversion"), 35
    // (no description) and 37 ("Corporate action": a split, a swap or a payout) have no
    // second source for their economics: they stay unclassified, named by the dictionary.
    (T, "38", EarnInterest, One, "USDG rewards"),
    (T, "250", Fee, One, "Copy trader profit sharing expenses"),
    (T, "251", Rebate, One, "Copy trader profit sharing refund"),
    // §5.2 subTypes.
    (S, "1", Trade, Leg, "Buy"),
    (S, "2", Trade, Leg, "Sell"),
    (S, "3", RealizedPnl, Pos, "Open long"),
    (S, "4", RealizedPnl, Pos, "Open short"),
    (S, "5", RealizedPnl, Pos, "Close long"),
    (S, "6", RealizedPnl, Pos, "Close short"),
    (S, "9", InterestPaid, One, "Interest deduction for market loans"),
    (S, "11", Transfer, One, "Transfer in"),
    (S, "12", Transfer, One, "Transfer out"),
    (S, "14", InterestPaid, One, "Interest deduction for VIP loans"),
    (S, "16", Transfer, One, "Repay forcibly (loan principal)"),
    (S, "17", InterestPaid, One, "Repay interest by borrowing forcibly"),
    (S, "100", Liquidation, Leg, "Partial liquidation close long"),
    (S, "101", Liquidation, Leg, "Partial liquidation close short"),
    (S, "102", Liquidation, Leg, "Partial liquidation buy"),
    (S, "103", Liquidation, Leg, "Partial liquidation sell"),
    (S, "104", Liquidation, Leg, "Liquidation long"),
    (S, "105", Liquidation, Leg, "Liquidation short"),
    (S, "106", Liquidation, Leg, "Liquidation buy"),
    (S, "107", Liquidation, Leg, "Liquidation sell"),
    (S, "108", RealizedPnl, One, "Clawback"),
    (S, "110", Liquidation, One, "Liquidation transfer in"),
    (S, "111", Liquidation, One, "Liquidation transfer out"),
    (S, "112", RealizedPnl, Pos, "Delivery long"),
    (S, "113", RealizedPnl, Pos, "Delivery short"),
    (S, "114", Trade, Pair, "Forced repayment buy"),
    (S, "115", Trade, Pair, "Forced repayment sell"),
    (S, "117", RealizedPnl, One, "Delivery/exercise clawback"),
    (S, "118", Trade, Pair, "System token conversion transfer in"),
    (S, "119", Trade, Pair, "System token conversion transfer out"),
    (S, "125", Liquidation, Leg, "ADL close long"),
    (S, "126", Liquidation, Leg, "ADL close short"),
    (S, "127", Liquidation, Leg, "ADL buy"),
    (S, "128", Liquidation, Leg, "ADL sell"),
    (S, "131", Trade, Leg, "DDH buy"),
    (S, "132", Trade, Leg, "DDH sell"),
    (S, "160", Transfer, One, "Manual margin increase"),
    (S, "161", Transfer, One, "Manual margin decrease"),
    (S, "162", Transfer, One, "Auto margin increase"),
    (S, "170", RealizedPnl, Pos, "Exercised (ITM buy side)"),
    (S, "171", RealizedPnl, Pos, "Counterparty exercised (ITM sell side)"),
    (S, "172", RealizedPnl, Pos, "Expired (non-ITM)"),
    (S, "173", FundingFee, FF, "Funding fee expense"),
    (S, "174", FundingFee, FF, "Funding fee income"),
    (S, "200", Transfer, One, "System transfer in"),
    (S, "201", Transfer, One, "Manual transfer in"),
    (S, "202", Transfer, One, "System transfer out"),
    (S, "203", Transfer, One, "Manual transfer out"),
    (S, "204", Trade, Leg, "Block trade buy"),
    (S, "205", Trade, Leg, "Block trade sell"),
    (S, "206", RealizedPnl, Pos, "Block trade open long"),
    (S, "207", RealizedPnl, Pos, "Block trade open short"),
    (S, "208", RealizedPnl, Pos, "Block trade close long"),
    (S, "209", RealizedPnl, Pos, "Block trade close short"),
    (S, "210", Transfer, One, "Quick margin manual borrow"),
    (S, "211", Transfer, One, "Quick margin manual repay"),
    (S, "212", Transfer, One, "Quick margin auto borrow"),
    (S, "213", Transfer, One, "Quick margin auto repay"),
    (S, "220", Transfer, One, "Transfer in when using USDT to buy OPTION"),
    (S, "221", Transfer, One, "Transfer out when using USDT to buy OPTION"),
    (S, "224", Transfer, One, "Repayment transfer in"),
    (S, "225", Transfer, One, "Repayment transfer out"),
    (S, "236", Trade, Pair, "Easy convert in"),
    (S, "237", Trade, Pair, "Easy convert out"),
    (S, "250", Fee, One, "Profit sharing expenses"),
    (S, "251", Rebate, One, "Profit sharing refund"),
    (S, "270", Trade, Leg, "Spread trading buy"),
    (S, "271", Trade, Leg, "Spread trading sell"),
    (S, "272", RealizedPnl, Pos, "Spread trading open long"),
    (S, "273", RealizedPnl, Pos, "Spread trading open short"),
    (S, "274", RealizedPnl, Pos, "Spread trading close long"),
    (S, "275", RealizedPnl, Pos, "Spread trading close short"),
    (S, "280", Fee, One, "SPOT profit sharing expenses"),
    (S, "281", Rebate, One, "SPOT profit sharing refund"),
    (S, "282", OtherIncome, One, "Spot profit share income"),
    (S, "283", Transfer, One, "Asset transfer for spot copy trading"),
    (S, "284", Transfer, One, "Copy trade automatic transfer in"),
    (S, "285", Transfer, One, "Copy trade manual transfer in"),
    (S, "286", Transfer, One, "Copy trade automatic transfer out"),
    (S, "287", Transfer, One, "Copy trade manual transfer out"),
    (S, "290", Transfer, One, "Crypto dust auto-transfer out"),
    (S, "293", InterestPaid, One, "Fixed loan interest deduction (retired)"),
    (S, "294", Rebate, One, "Fixed loan interest refund (retired)"),
    (S, "295", Fee, One, "Fixed loan overdue penalty (retired)"),
    (S, "296", Transfer, One, "From structured order placements"),
    (S, "297", Transfer, One, "To structured order placements"),
    (S, "298", Transfer, One, "From structured settlements"),
    (S, "299", Transfer, One, "To structured settlements"),
    (S, "306", Transfer, One, "Manual borrow"),
    (S, "307", Transfer, One, "Auto borrow"),
    (S, "308", Transfer, One, "Manual repay"),
    (S, "309", Transfer, One, "Auto repay"),
    (S, "312", Transfer, One, "Auto offset"),
    (S, "318", Trade, Pair, "Convert in"),
    (S, "319", Trade, Pair, "Convert out"),
    (S, "320", Trade, Pair, "Simple buy"),
    (S, "321", Trade, Pair, "Simple sell"),
    (S, "324", Trade, Leg, "Move position buy"),
    (S, "325", Trade, Leg, "Move position sell"),
    (S, "326", RealizedPnl, Pos, "Move position open long"),
    (S, "327", RealizedPnl, Pos, "Move position open short"),
    (S, "328", RealizedPnl, Pos, "Move position close long"),
    (S, "329", RealizedPnl, Pos, "Move position close short"),
    (S, "332", Transfer, One, "Margin transfer in isolated position"),
    (S, "333", Transfer, One, "Margin transfer out isolated position"),
    (S, "334", RealizedPnl, One, "Margin loss when closing isolated position"),
    (S, "355", RealizedPnl, Pos, "Settlement PnL"),
    (S, "372", Transfer, One, "Bot airdrop transfer in"),
    (S, "373", Transfer, One, "Bot airdrop transfer out"),
    (S, "374", Transfer, One, "Bot airdrop reclaim transfer in"),
    (S, "375", Transfer, One, "Bot airdrop reclaim transfer out"),
    (S, "376", Trade, Pair, "Collateralized borrowing auto conversion buy"),
    (S, "377", Trade, Pair, "Collateralized borrowing auto conversion sell"),
    (S, "381", EarnInterest, One, "Auto earn (auto lend) interest"),
];

/// Funding-account bill types: (code, kind, OKX meaning). Types 1 and 2 are enriched from
/// deposit / withdrawal history.
#[rustfmt::skip]
pub const FUNDING_CODES: &[(&str, Kind, &str)] = &[
    ("1", Deposit, "Deposit"),
    ("2", Withdrawal, "Withdrawal"),
    ("13", Transfer, "Canceled withdrawal (refund of a type-2 hold)"),
    ("20", Transfer, "Transfer to sub account"),
    ("21", Transfer, "Transfer from sub account"),
    ("22", Transfer, "Transfer out to master account"),
    ("23", Transfer, "Transfer in from master account"),
    ("28", Airdrop, "Manually claimed airdrop"),
    ("47", OtherIncome, "System reversal"),
    ("48", OtherIncome, "Event reward"),
    ("49", OtherIncome, "Event giveaway"),
    ("68", Rebate, "Fee rebate (rebate card)"),
    ("72", OtherIncome, "Token received"),
    ("73", Withdrawal, "Token given away"),
    ("74", Deposit, "Token refunded"),
    ("75", Transfer, "Simple earn flexible subscription"),
    ("76", Transfer, "Simple earn flexible redemption"),
    ("77", Airdrop, "Jumpstart distribute"),
    ("78", Transfer, "Jumpstart lock up"),
    ("80", Transfer, "DeFi/staking subscription"),
    ("82", Transfer, "DeFi/staking redemption"),
    ("83", StakingReward, "Staking yield"),
    ("84", Fee, "Violation fee"),
    ("89", EarnInterest, "Deposit yield"),
    ("116", Trade, "Fiat order placed"),
    ("117", Trade, "Fiat order fulfilled"),
    ("118", Trade, "Fiat order canceled (reverses 116)"),
    ("124", Transfer, "Jumpstart unlocking"),
    ("130", Transfer, "Transferred from trading account"),
    ("131", Transfer, "Transferred to trading account"),
    ("132", Transfer, "P2P frozen"),
    ("133", Transfer, "P2P unfrozen"),
    ("134", Trade, "P2P transferred by customer service"),
    ("135", Trade, "Cross-chain exchange"),
    ("137", Transfer, "ETH staking subscription"),
    ("138", Transfer, "ETH staking swapping"),
    ("139", StakingReward, "ETH staking earnings"),
    ("146", OtherIncome, "Customer feedback"),
    ("150", ReferralReward, "Affiliate commission"),
    ("151", ReferralReward, "Referral reward"),
    ("152", ReferralReward, "Broker reward"),
    ("160", Transfer, "Dual investment subscribe"),
    ("161", Transfer, "Dual investment collection"),
    ("162", EarnInterest, "Dual investment profit"),
    ("163", Transfer, "Dual investment refund"),
    ("172", ReferralReward, "Sub-affiliate commission"),
    ("173", Rebate, "Fee rebate (by trading fee)"),
    ("174", Trade, "Jumpstart pay"),
    ("175", Transfer, "Locked collateral"),
    ("176", Transfer, "Loan"),
    ("177", Transfer, "Added collateral"),
    ("178", Transfer, "Returned collateral"),
    ("179", Transfer, "Repayment"),
    ("180", Transfer, "Unlocked collateral"),
    ("181", Airdrop, "Airdrop payment"),
    ("185", OtherIncome, "Broker convert reward"),
    ("187", Transfer, "Broker convert transfer"),
    ("189", OtherIncome, "Mystery box bonus"),
    ("195", Withdrawal, "Untradable asset withdrawal"),
    ("196", Deposit, "Untradable asset withdrawal revoked"),
    ("197", Deposit, "Untradable asset deposit"),
    ("198", Transfer, "Untradable asset collection reduce"),
    ("199", Transfer, "Untradable asset collection increase"),
    ("200", Trade, "Buy"),
    ("202", Transfer, "Price lock subscribe"),
    ("203", Transfer, "Price lock collection"),
    ("204", EarnInterest, "Price lock profit"),
    ("205", Transfer, "Price lock refund"),
    ("207", Transfer, "Dual investment lite subscribe"),
    ("208", Transfer, "Dual investment lite collection"),
    ("209", EarnInterest, "Dual investment lite profit"),
    ("210", Transfer, "Dual investment lite refund"),
    ("212", Transfer, "Flexible loan collateral locked"),
    ("215", Transfer, "Flexible loan collateral released"),
    ("217", Transfer, "Flexible loan borrowed"),
    ("218", Transfer, "Flexible loan repaid"),
    ("220", Trade, "Delisted crypto (converted)"),
    ("221", Fee, "Blockchain withdrawal fee"),
    ("222", Rebate, "Withdrawal fee refund"),
    ("223", OtherIncome, "SWAP lead trading profit share"),
    ("225", Transfer, "Shark fin subscribe"),
    ("226", Transfer, "Shark fin collection"),
    ("227", EarnInterest, "Shark fin profit"),
    ("228", Transfer, "Shark fin refund"),
    ("229", Airdrop, "Airdrop"),
    ("232", EarnInterest, "Subsidized interest received"),
    ("233", Rebate, "Broker rebate compensation"),
    ("240", Transfer, "Snowball subscribe"),
    ("241", Transfer, "Snowball refund"),
    ("242", EarnInterest, "Snowball profit"),
    ("243", Transfer, "Snowball trading failed"),
    ("249", Transfer, "Seagull subscribe"),
    ("250", Transfer, "Seagull collection"),
    ("251", EarnInterest, "Seagull profit"),
    ("252", Transfer, "Seagull refund"),
    ("263", OtherIncome, "Strategy bots profit share"),
    ("265", OtherIncome, "Signal revenue"),
    ("266", OtherIncome, "SPOT lead trading profit share"),
    ("270", Transfer, "DCD broker transfer"),
    ("271", Rebate, "DCD broker rebate"),
    ("272", Trade, "Convert: buy crypto/fiat"),
    ("273", Trade, "Convert: sell crypto/fiat"),
    ("284", Transfer, "Custody: transfer out trading sub-account"),
    ("285", Transfer, "Custody: transfer in trading sub-account"),
    ("286", Transfer, "Custody: transfer out custody funding account"),
    ("287", Transfer, "Custody: transfer in custody funding account"),
    ("288", Transfer, "Custody fund delegation"),
    ("289", Transfer, "Custody fund undelegation"),
    ("299", ReferralReward, "Affiliate recommendation commission"),
    ("300", Rebate, "Fee discount rebate"),
    ("303", Transfer, "Snowball market maker transfer"),
    ("311", Transfer, "Crypto dust auto-transfer in"),
    ("313", Withdrawal, "Sent by gift"),
    ("314", OtherIncome, "Received from gift"),
    ("315", Deposit, "Refunded from gift"),
    ("328", StakingReward, "SOL staking: LST reward"),
    ("329", Transfer, "SOL staking: subscribe"),
    ("330", Transfer, "SOL staking: mint"),
    ("331", Transfer, "SOL staking: redeem"),
    ("332", Transfer, "SOL staking: settle"),
    ("333", OtherIncome, "Trial fund reward"),
    ("339", Transfer, "Simple Earn Fixed order submission"),
    ("340", Transfer, "Simple Earn Fixed order failure refund"),
    ("341", Transfer, "Simple Earn Fixed redemption"),
    ("342", Transfer, "Simple Earn Fixed principal"),
    ("343", EarnInterest, "Simple Earn Fixed interest"),
    ("344", EarnInterest, "Simple Earn Fixed compensatory interest"),
    ("345", Transfer, "Institutional loan principal repayment"),
    ("346", InterestPaid, "Institutional loan interest repayment"),
    ("347", Fee, "Institutional loan overdue penalty"),
    ("348", Transfer, "BTC staking subscription"),
    ("349", Transfer, "BTC staking redemption"),
    ("350", StakingReward, "BTC staking earnings"),
    ("351", Transfer, "Institutional loan disbursement"),
    ("354", OtherIncome, "Copy and bot rewards"),
    ("361", Transfer, "Deposit from closed sub-account"),
    ("372", Transfer, "Asset segregation"),
    ("373", Transfer, "Asset release"),
    ("400", EarnInterest, "Auto lend interest"),
    ("408", EarnInterest, "Auto earn USDG interest"),
    ("476", Transfer, "Transferred out to Cloud Exchange"),
    ("477", Transfer, "Transferred in from Cloud Exchange"),
];

/// Funding codes whose collection can arrive in another currency than was subscribed.
pub const STRUCTURED_COLLECTIONS: &[&str] = &["161", "203", "208", "226", "250"];

/// A trading-table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TradingRule {
    pub kind: Kind,
    pub how: How,
    pub desc: &'static str,
}

fn trading_index() -> &'static HashMap<(Field, &'static str), TradingRule> {
    static INDEX: OnceLock<HashMap<(Field, &'static str), TradingRule>> = OnceLock::new();
    INDEX.get_or_init(|| {
        TRADING_CODES
            .iter()
            .map(|&(f, c, kind, how, desc)| ((f, c), TradingRule { kind, how, desc }))
            .collect()
    })
}

fn funding_index() -> &'static HashMap<&'static str, (Kind, &'static str)> {
    static INDEX: OnceLock<HashMap<&'static str, (Kind, &'static str)>> = OnceLock::new();
    INDEX.get_or_init(|| FUNDING_CODES.iter().map(|&(c, k, d)| (c, (k, d))).collect())
}

/// Bill types whose every subType has the type's economics (a reward is a reward, a
/// profit-sharing expense an expense): an unknown subType of these is booked by the type.
pub const TYPE_DECIDES: &[&str] = &["38", "250", "251"];

/// The rule for a trading bill: by `subType` when present (an unknown subType is unknown even
/// if its `type` is known: a new subType of "Trade" could be anything, unless the type is
/// one of [`TYPE_DECIDES`]), else by `type`.
pub fn trading_rule(bill_type: Option<&str>, sub_type: Option<&str>) -> Option<TradingRule> {
    let index = trading_index();
    let by_type = || index.get(&(Field::Type, bill_type?)).copied();
    let mut rule = match sub_type {
        Some(s) => match index.get(&(Field::SubType, s)) {
            Some(r) => *r,
            None if bill_type.is_some_and(|t| TYPE_DECIDES.contains(&t)) => by_type()?,
            None => return None,
        },
        None => by_type()?,
    };
    // Anything booked under the liquidation or ADL bill types is a liquidation.
    if matches!(bill_type, Some("5" | "9")) && matches!(rule.kind, Kind::Trade | Kind::RealizedPnl) {
        rule.kind = Kind::Liquidation;
    }
    Some(rule)
}

/// The kind and description of a funding bill type.
pub fn funding_rule(bill_type: Option<&str>) -> Option<(Kind, &'static str)> {
    funding_index().get(bill_type?).copied()
}

/// The `unclassified_codes` key of a trading bill, e.g. `trading type 999/9999`.
pub fn trading_code_label(bill_type: Option<&str>, sub_type: Option<&str>) -> String {
    format!(
        "trading type {}/{}",
        bill_type.unwrap_or("-"),
        sub_type.unwrap_or("-")
    )
}

/// OKX's own names of trading-bill codes (its `account/subtypes` dictionary, cached by
/// `sync`): how a report names a code it cannot classify.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BillNames {
    types: HashMap<String, String>,
    sub_types: HashMap<(String, String), String>,
}

impl BillNames {
    pub fn new(names: &[crate::store::BillTypeName]) -> BillNames {
        let mut out = BillNames::default();
        for n in names.iter().filter(|n| !n.description.is_empty()) {
            match &n.sub_type {
                Some(s) => {
                    out.sub_types
                        .insert((n.bill_type.clone(), s.clone()), n.description.clone());
                }
                None => {
                    out.types.insert(n.bill_type.clone(), n.description.clone());
                }
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.types.is_empty() && self.sub_types.is_empty()
    }

    /// `OKX: “type name” / “subType name”` for a trading bill's codes, or `None` when OKX's
    /// dictionary names neither.
    pub fn describe(&self, bill_type: Option<&str>, sub_type: Option<&str>) -> Option<String> {
        let t = bill_type.and_then(|t| self.types.get(t));
        let s = bill_type
            .zip(sub_type)
            .and_then(|(t, s)| self.sub_types.get(&(t.to_string(), s.to_string())));
        match (t, s) {
            (Some(t), Some(s)) => Some(format!("OKX: “{t}” / “{s}”")),
            (Some(t), None) => Some(format!("OKX: “{t}”")),
            (None, Some(s)) => Some(format!("OKX: subType “{s}”")),
            (None, None) => None,
        }
    }
}

/// The `unclassified_codes` key of a funding bill, e.g. `funding type 999`.
pub fn funding_code_label(bill_type: Option<&str>) -> String {
    format!("funding type {}", bill_type.unwrap_or("-"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_trading_code_maps_and_is_listed_once() {
        let mut seen = HashSet::new();
        for &(f, c, kind, how, desc) in TRADING_CODES {
            assert!(seen.insert((f, c)), "{f:?} {c} listed twice");
            assert_ne!(kind, Kind::Unclassified, "{c}");
            assert!(!desc.is_empty());
            let rule = match f {
                Field::SubType => trading_rule(Some("0"), Some(c)),
                Field::Type => trading_rule(Some(c), None),
            }
            .unwrap_or_else(|| panic!("{f:?} {c} does not map"));
            assert_eq!((rule.kind, rule.how), (kind, how), "{f:?} {c}");
        }
        // Codes the normalizer treats specially are present.
        for s in [
            "1", "2", "3", "173", "174", "318", "319", "236", "237", "320", "321",
        ] {
            assert!(trading_rule(None, Some(s)).is_some(), "{s}");
        }
    }

    #[test]
    fn every_funding_code_maps_and_is_listed_once() {
        let mut seen = HashSet::new();
        for &(c, kind, desc) in FUNDING_CODES {
            assert!(seen.insert(c), "{c} listed twice");
            assert_ne!(kind, Kind::Unclassified, "{c}");
            assert!(!desc.is_empty());
            assert_eq!(funding_rule(Some(c)).map(|r| r.0), Some(kind), "{c}");
        }
    }

    #[test]
    fn unknown_codes_do_not_map() {
        assert_eq!(trading_rule(Some("999"), Some("9999")), None);
        assert_eq!(
            trading_rule(Some("2"), Some("9999")),
            None,
            "unknown subType of a known type"
        );
        assert_eq!(trading_rule(Some("999"), None), None);
        assert_eq!(trading_rule(None, None), None);
        assert_eq!(funding_rule(Some("9999")), None);
        assert_eq!(funding_rule(None), None);
        assert_eq!(
            funding_rule(Some("305")),
            None,
            "struck-out codes are not guessed"
        );
    }

    /// Issue 20: the codes OKX documented after these tables were written, each booked by
    /// its economics (okx-api.md §12.3), and the ones whose economics no second source
    /// confirms left unclassified (a report names them with OKX's dictionary).
    #[test]
    fn codes_documented_since_the_tables() {
        let t = |ty: &str, s: Option<&str>| trading_rule(Some(ty), s).map(|r| r.kind);
        let f = |c: &str| funding_rule(Some(c)).map(|r| r.0);
        // Copy trading: the copier's profit-sharing expense and its refund, the lead
        // trader's income (trading 280–282; funding 223 SWAP, 266 SPOT, 263 bots, 354).
        assert_eq!(t("2", Some("280")), Some(Kind::Fee));
        assert_eq!(t("2", Some("281")), Some(Kind::Rebate));
        assert_eq!(t("2", Some("282")), Some(Kind::OtherIncome));
        assert_eq!(t("250", Some("9998")), Some(Kind::Fee), "type 250 decides");
        assert_eq!(t("251", Some("9998")), Some(Kind::Rebate), "type 251 decides");
        for c in ["223", "263", "266", "354"] {
            assert_eq!(f(c), Some(Kind::OtherIncome), "funding {c}");
        }
        // Auto-earn / USDG interest: trading subType 381, funding 400 and 408, type 38.
        assert_eq!(t("36", Some("381")), Some(Kind::EarnInterest));
        assert_eq!(f("400"), Some(Kind::EarnInterest));
        assert_eq!(f("408"), Some(Kind::EarnInterest));
        assert_eq!(t("38", None), Some(Kind::EarnInterest));
        assert_eq!(
            t("38", Some("9997")),
            Some(Kind::EarnInterest),
            "any subType of 38"
        );
        // One source only: named, not guessed.
        for ty in ["20", "35", "37"] {
            assert_eq!(t(ty, None), None, "type {ty}");
            assert_eq!(t(ty, Some("9997")), None, "type {ty}");
        }
        // A known type does not decide an unknown subType of a trade.
        assert_eq!(t("2", Some("9997")), None);
    }

    #[test]
    fn okx_names_describe_unknown_codes() {
        use crate::store::BillTypeName;
        let n = |t: &str, s: Option<&str>, d: &str| BillTypeName {
            bill_type: t.into(),
            sub_type: s.map(Into::into),
            description: d.into(),
        };
        let names = BillNames::new(&[
            n("37", None, "Corporate action"),
            n("37", Some("390"), "Token split"),
            n("36", None, ""),
        ]);
        assert_eq!(
            names.describe(Some("37"), Some("390")).as_deref(),
            Some("OKX: “Corporate action” / “Token split”")
        );
        assert_eq!(
            names.describe(Some("37"), Some("391")).as_deref(),
            Some("OKX: “Corporate action”")
        );
        assert_eq!(names.describe(Some("36"), None), None, "an empty name is no name");
    }

    #[test]
    fn issue_mapping_examples() {
        let f = |c| funding_rule(Some(c)).unwrap().0;
        for c in ["83", "139", "328", "350"] {
            assert_eq!(f(c), Kind::StakingReward, "{c}");
        }
        for c in [
            "89", "343", "344", "400", "408", "162", "209", "227", "242", "251", "204",
        ] {
            assert_eq!(f(c), Kind::EarnInterest, "{c}");
        }
        for c in ["28", "181", "229"] {
            assert_eq!(f(c), Kind::Airdrop, "{c}");
        }
        for c in ["151", "150", "172", "152", "299"] {
            assert_eq!(f(c), Kind::ReferralReward, "{c}");
        }
        for c in ["48", "49", "189", "333", "354", "263", "265", "266", "223", "185"] {
            assert_eq!(f(c), Kind::OtherIncome, "{c}");
        }
        for c in ["68", "173", "300", "233", "271", "222"] {
            assert_eq!(f(c), Kind::Rebate, "{c}");
        }
        for c in ["84", "221"] {
            assert_eq!(f(c), Kind::Fee, "{c}");
        }
        for c in [
            "130", "131", "20", "21", "22", "23", "361", "75", "76", "80", "82", "137", "138",
        ] {
            assert_eq!(f(c), Kind::Transfer, "{c}");
        }
        for c in [
            "329", "330", "331", "332", "339", "341", "342", "476", "477", "13",
        ] {
            assert_eq!(f(c), Kind::Transfer, "{c}");
        }
        assert_eq!(f("272"), Kind::Trade);
        assert_eq!(f("273"), Kind::Trade);

        let t = |ty: Option<&str>, s: &str| trading_rule(ty, Some(s)).unwrap().kind;
        assert_eq!(t(None, "381"), Kind::EarnInterest);
        assert_eq!(t(None, "282"), Kind::OtherIncome);
        assert_eq!(t(None, "250"), Kind::Fee);
        assert_eq!(t(None, "280"), Kind::Fee);
        assert_eq!(t(None, "251"), Kind::Rebate);
        assert_eq!(t(None, "281"), Kind::Rebate);
        assert_eq!(t(Some("5"), "3"), Kind::Liquidation, "liquidation bill type wins");
        assert_eq!(t(Some("2"), "3"), Kind::RealizedPnl);
        for s in [
            "11", "12", "160", "161", "162", "332", "333", "200", "203", "284", "287",
        ] {
            assert_eq!(t(None, s), Kind::Transfer, "{s}");
        }
    }
}
