//! The split of a row into direction-typed [`Leg`]s for the tax formats ([`legs`]), why a
//! format skips a row ([`Skip`]), and small helpers the formats share about a row (leg ids,
//! derivative instruments, fiat codes).

use crate::model::{Amount, Kind, Transaction};
use std::borrow::Cow;

/// The id of leg `index` of a row: the row id for the first leg, `<id>#<n>` for the rare
/// extra legs, so tools that drop duplicate ids keep them.
pub(crate) fn leg_id(tx: &Transaction, index: usize) -> Cow<'_, str> {
    if index == 0 {
        Cow::Borrowed(&tx.id)
    } else {
        Cow::Owned(format!("{}#{}", tx.id, index + 1))
    }
}

/// True for OKX derivative instrument ids (`BTC-USDT-SWAP`, `BTC-USD-250328`, options);
/// spot and margin pairs have two parts (`BTC-USDT`).
pub(crate) fn is_derivative(instrument: Option<&str>) -> bool {
    // Three or more parts: two dashes or more (a byte count; every format asks, per row).
    instrument.is_some_and(|i| i.bytes().filter(|&b| b == b'-').count() >= 2)
}

/// Fiat currencies OKX lists for deposits / P2P / trading (ISO 4217 codes).
pub(crate) fn is_fiat(asset: &str) -> bool {
    const FIAT: [&[u8; 3]; 41] = [
        b"USD", b"EUR", b"GBP", b"AUD", b"CAD", b"CHF", b"JPY", b"CNY", b"HKD", b"SGD", b"TWD", b"KRW",
        b"INR", b"IDR", b"THB", b"VND", b"PHP", b"MYR", b"AED", b"SAR", b"TRY", b"BRL", b"ARS", b"MXN",
        b"COP", b"CLP", b"PEN", b"NGN", b"ZAR", b"KES", b"PLN", b"CZK", b"HUF", b"RON", b"SEK", b"NOK",
        b"DKK", b"NZD", b"UAH", b"RUB", b"KZT",
    ];
    // Fixed-size codes compare inline (a list of `&str` costs a `memcmp` call per entry for
    // every three-letter crypto ticker).
    <&[u8; 3]>::try_from(asset.as_bytes()).is_ok_and(|code| FIAT.contains(&code))
}

/// Why a tax format left a transaction out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Skip {
    Transfer,
    Unclassified,
    Other,
}

pub(crate) type Encoded = Result<(), Skip>;

/// The direction-typed pieces a tax format writes for one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape<'a> {
    /// Both sides (kind `trade`): `received` is gross, `fee` is an extra outflow.
    Trade {
        sent: &'a Amount,
        received: &'a Amount,
        fee: Option<&'a Amount>,
    },
    /// Incoming only; `fee` (if any) is an extra outflow.
    In {
        received: &'a Amount,
        fee: Option<&'a Amount>,
    },
    /// Outgoing only; `sent` excludes `fee`, which is an extra outflow.
    Out {
        sent: &'a Amount,
        fee: Option<&'a Amount>,
    },
}

/// One piece of a transaction with the kind a format should treat it as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Leg<'a> {
    pub kind: Kind,
    pub shape: Shape<'a>,
}

/// Splits a transaction into legs for the tax formats.
///
/// * `transfer` and `unclassified` → skipped (counted by the caller).
/// * Zero amounts count as absent; a row with none left (e.g. a bill that changed no
///   balance) is skipped as `Other`.
/// * `trade` (and a paired `liquidation`, e.g. a forced spot-margin sell) with both sides →
///   one `Trade` leg.
/// * A one-sided `trade`: on a derivative instrument (an option premium) it is treated as
///   `realized_pnl`; otherwise (a fiat buy booked only as the coin received, a leg whose
///   partner is missing) it stays `trade`, which formats write as a plain receive / send
///   (like a deposit / withdrawal), so the tool shows it as an unexplained movement for the
///   user to complete instead of inventing income or a disposal.
/// * A fee-only row (no sent, no received), and every piece of a `fee` row, becomes an `Out`
///   leg of kind `fee`, except `funding_fee` and `interest_paid`, which keep their kind
///   because most tools have a dedicated margin-fee / interest type.
/// * Any other row with both sides (not expected) is split into an `Out` leg (with the fee)
///   and an `In` leg, so one-directional types never get both columns.
pub(crate) fn legs(tx: &Transaction) -> Result<Vec<Leg<'_>>, Skip> {
    fn nz(a: &Option<Amount>) -> Option<&Amount> {
        a.as_ref().filter(|a| !a.amount.is_zero())
    }
    let (sent, received, fee) = (nz(&tx.sent), nz(&tx.received), nz(&tx.fee));
    let one_sided = sent.is_none() || received.is_none();
    let kind = match tx.kind {
        Kind::Trade if one_sided && is_derivative(tx.instrument.as_deref()) => Kind::RealizedPnl,
        k => k,
    };
    let leg = |kind, shape| Leg { kind, shape };
    let out = match kind {
        Kind::Transfer => return Err(Skip::Transfer),
        Kind::Unclassified => return Err(Skip::Unclassified),
        Kind::Fee => {
            let mut v: Vec<Leg> = [sent, fee]
                .into_iter()
                .flatten()
                .map(|a| leg(Kind::Fee, Shape::Out { sent: a, fee: None }))
                .collect();
            v.extend(received.map(|r| {
                leg(
                    Kind::Fee,
                    Shape::In {
                        received: r,
                        fee: None,
                    },
                )
            }));
            v
        }
        _ => match (sent, received, fee) {
            (Some(s), Some(r), _) if matches!(kind, Kind::Trade | Kind::Liquidation) => {
                vec![leg(
                    kind,
                    Shape::Trade {
                        sent: s,
                        received: r,
                        fee,
                    },
                )]
            }
            (Some(s), Some(r), _) => vec![
                leg(kind, Shape::Out { sent: s, fee }),
                leg(
                    kind,
                    Shape::In {
                        received: r,
                        fee: None,
                    },
                ),
            ],
            (None, Some(r), _) => vec![leg(kind, Shape::In { received: r, fee })],
            (Some(s), None, _) => vec![leg(kind, Shape::Out { sent: s, fee })],
            (None, None, Some(f)) => {
                let k = match kind {
                    Kind::FundingFee | Kind::InterestPaid => kind,
                    _ => Kind::Fee,
                };
                vec![leg(k, Shape::Out { sent: f, fee: None })]
            }
            (None, None, None) => vec![],
        },
    };
    if out.is_empty() { Err(Skip::Other) } else { Ok(out) }
}
