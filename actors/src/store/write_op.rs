//! Every write of the engine as a value: what [`Store::apply`](super::Store::apply) and
//! [`Store::apply_batch`](super::Store::apply_batch) take, and what they answer.

use chrono::{DateTime, Utc};

use super::{
    ChargeKey, NewHold, NewPayment, PaymentRow, ReservationRow, ReservationStatus, StoreError, TokenRow,
    TokenState,
};
use crate::domain::{ChargeAmount, Points, QueueToken, ReservationId, RoomId, UserId};

/// One write: the arguments of the `Store` method it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// [`Store::insert_hold`](super::Store::insert_hold).
    InsertHold(NewHold),
    /// [`Store::end_hold`](super::Store::end_hold).
    EndHold {
        /// The reservation.
        id: ReservationId,
        /// `Expired` or `Released`.
        status: ReservationStatus,
        /// When.
        at: DateTime<Utc>,
    },
    /// [`Store::keyed_charge`](super::Store::keyed_charge).
    Charge {
        /// The user.
        user: UserId,
        /// The amount.
        amount: ChargeAmount,
        /// When.
        at: DateTime<Utc>,
        /// The retry key that names this charge, if one was sent.
        key: Option<ChargeKey>,
    },
    /// [`Store::commit_payment`](super::Store::commit_payment).
    CommitPayment(NewPayment),
    /// [`Store::insert_tokens`](super::Store::insert_tokens).
    InsertTokens(Vec<TokenRow>),
    /// [`Store::admit_tokens`](super::Store::admit_tokens).
    AdmitTokens {
        /// Their room: only its waiting tokens are admitted, and its
        /// `admitted_total` counts them.
        room: RoomId,
        /// The tokens.
        tokens: Vec<QueueToken>,
        /// When.
        at: DateTime<Utc>,
    },
    /// [`Store::end_tokens`](super::Store::end_tokens).
    EndTokens {
        /// Their room: only its live tokens are ended, and its `evicted_total`
        /// counts those evicted.
        room: RoomId,
        /// The tokens.
        tokens: Vec<QueueToken>,
        /// `Expired` or `Evicted`.
        state: TokenState,
        /// When.
        at: DateTime<Utc>,
    },
    /// [`Store::prune_tokens`](super::Store::prune_tokens).
    PruneTokens {
        /// Ended tokens that ended before this are deleted.
        ended_before: DateTime<Utc>,
        /// At most this many.
        limit: u32,
    },
}

/// What a [`WriteOp`] answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// From `InsertHold`.
    Hold(ReservationRow),
    /// From `EndHold`: whether the hold was still `held`.
    HoldEnded(bool),
    /// From `Charge`: the new balance.
    Balance(Points),
    /// From `CommitPayment`.
    Payment(PaymentRow),
    /// From the token writes.
    Done,
    /// From `PruneTokens`: how many rows were deleted.
    Pruned(u64),
}

impl WriteOutcome {
    /// The row of an `InsertHold`.
    pub(super) fn into_hold(self) -> Result<ReservationRow, StoreError> {
        match self {
            Self::Hold(row) => Ok(row),
            other => Err(other.unexpected()),
        }
    }

    /// The answer of an `EndHold`.
    pub(super) fn into_hold_ended(self) -> Result<bool, StoreError> {
        match self {
            Self::HoldEnded(ended) => Ok(ended),
            other => Err(other.unexpected()),
        }
    }

    /// The balance of a `Charge`.
    pub(super) fn into_balance(self) -> Result<Points, StoreError> {
        match self {
            Self::Balance(balance) => Ok(balance),
            other => Err(other.unexpected()),
        }
    }

    /// The payment of a `CommitPayment`.
    pub(super) fn into_payment(self) -> Result<PaymentRow, StoreError> {
        match self {
            Self::Payment(row) => Ok(row),
            other => Err(other.unexpected()),
        }
    }

    /// The answer of a token write.
    pub(super) fn into_done(self) -> Result<(), StoreError> {
        match self {
            Self::Done => Ok(()),
            other => Err(other.unexpected()),
        }
    }

    /// The count of a `PruneTokens`.
    pub(super) fn into_pruned(self) -> Result<u64, StoreError> {
        match self {
            Self::Pruned(count) => Ok(count),
            other => Err(other.unexpected()),
        }
    }

    /// An outcome that is not the variant its op answers: a broken store (or
    /// decorator), reported rather than panicked on.
    fn unexpected(&self) -> StoreError {
        StoreError::Unavailable(format!("the store answered an unexpected {self:?}"))
    }
}
