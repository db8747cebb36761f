//! Row-combining rules, all in one place: [`Combine`] (maker-rebate netting and same-second
//! fill merging), [`copy_into`] (how a held row is kept) and [`fold_fee`] (a same-coin fee
//! folded into the amount it was taken from).

use super::legs::is_derivative;
use crate::model::{Amount, Kind, Transaction};
use rust_decimal::Decimal;

/// Rules for combining consecutive rows into one before a format encodes them.
///
/// * `net_rebates`: a maker rebate (`rebate` row) that immediately follows the spot fill it
///   belongs to (same order, same second, paid in the coin received or sent) is netted into
///   that fill: it adds to the coin received, or reduces the coin sent. For tools with no
///   fee-refund type this states what happened (the fill paid a negative fee) instead of
///   calling the rebate income. The normalizer emits a fill's rebate right after the fill
///   (both come from the same bill), so one held row is enough.
/// * `merge_fills`: consecutive fills of one order in the same second with the same coins
///   (and fee coin) become one row whose amounts are the sums, for tools without an id
///   column, where two such fills would be indistinguishable rows.
///
/// The combined row keeps the first row's id and time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Combine {
    pub net_rebates: bool,
    pub merge_fills: bool,
}

impl Combine {
    pub(crate) fn any(self) -> bool {
        self.net_rebates || self.merge_fills
    }

    /// Whether `tx` could absorb later rows (a two-sided spot trade with an order id).
    pub(crate) fn may_absorb_into(self, tx: &Transaction) -> bool {
        self.any()
            && tx.kind == Kind::Trade
            && tx.order_id.is_some()
            && !is_derivative(tx.instrument.as_deref())
            && tx.sent.as_ref().is_some_and(|a| !a.amount.is_zero())
            && tx.received.as_ref().is_some_and(|a| !a.amount.is_zero())
    }

    /// Folds `tx` into `held` when the rules allow; returns whether it did.
    pub(crate) fn absorb(self, held: &mut Transaction, tx: &Transaction) -> bool {
        let same_fill_group = held.order_id.is_some()
            && tx.order_id == held.order_id
            && tx.instrument == held.instrument
            && tx.time.timestamp() == held.time.timestamp()
            && tx.account == held.account;
        if !same_fill_group {
            return false;
        }
        let (Some(sent), Some(received)) = (held.sent.as_mut(), held.received.as_mut()) else {
            return false;
        };
        if self.net_rebates
            && tx.kind == Kind::Rebate
            && tx.sent.is_none()
            && tx.fee.is_none()
            && let Some(r) = &tx.received
        {
            if r.asset == received.asset {
                received.amount += r.amount;
                return true;
            }
            if r.asset == sent.asset && r.amount < sent.amount {
                sent.amount -= r.amount;
                return true;
            }
            return false;
        }
        if self.merge_fills
            && tx.kind == Kind::Trade
            && tx.side == held.side
            && let (Some(s), Some(r)) = (&tx.sent, &tx.received)
            && s.asset == sent.asset
            && r.asset == received.asset
        {
            match (&mut held.fee, &tx.fee) {
                (Some(hf), Some(f)) if hf.asset == f.asset => hf.amount += f.amount,
                (None, None) => {}
                _ => return false,
            }
            sent.amount += s.amount;
            received.amount += r.amount;
            // The merged price is no longer one fill's; the amounts say what it was.
            held.price = None;
            held.trade_id = None;
            return true;
        }
        false
    }
}

/// `*dst = src.clone()`, reusing `dst`'s string buffers (a held row is copied for every spot
/// trade). Destructures `src` so a new field cannot be forgotten.
pub(crate) fn copy_into(dst: &mut Transaction, src: &Transaction) {
    fn amount(dst: &mut Option<Amount>, src: &Option<Amount>) {
        match (dst.as_mut(), src) {
            (Some(d), Some(s)) => {
                d.amount = s.amount;
                d.asset.clone_from(&s.asset);
            }
            _ => dst.clone_from(src),
        }
    }
    let Transaction {
        id,
        time,
        account,
        kind,
        sent,
        received,
        fee,
        instrument,
        side,
        price,
        order_id,
        trade_id,
        tx_hash,
        address,
        chain,
        source,
        source_id,
        note,
        counterparty,
    } = src;
    dst.id.clone_from(id);
    (dst.time, dst.account, dst.kind, dst.price) = (*time, *account, *kind, *price);
    amount(&mut dst.sent, sent);
    amount(&mut dst.received, received);
    amount(&mut dst.fee, fee);
    for (d, s) in [
        (&mut dst.instrument, instrument),
        (&mut dst.side, side),
        (&mut dst.order_id, order_id),
        (&mut dst.trade_id, trade_id),
        (&mut dst.tx_hash, tx_hash),
        (&mut dst.address, address),
        (&mut dst.chain, chain),
        (&mut dst.note, note),
        (&mut dst.counterparty, counterparty),
    ] {
        d.clone_from(s);
    }
    dst.source.clone_from(source);
    dst.source_id.clone_from(source_id);
}

/// `main` with a fee in the same coin folded in: `main + fee` when `add`, `main − fee`
/// otherwise (`None` when that would not stay positive, or the fee is in another coin).
pub(crate) fn fold_fee(main: &Amount, fee: Option<&Amount>, add: bool) -> Option<Amount> {
    let f = fee.filter(|f| f.asset == main.asset)?;
    let amount = if add {
        main.amount + f.amount
    } else {
        main.amount - f.amount
    };
    (amount > Decimal::ZERO).then(|| Amount::new(amount, main.asset.clone()))
}
