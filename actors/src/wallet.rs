//! The Wallet actor: one per user, the only writer of that user's balance.
//!
//! Spawned on demand by the supervisor and stopped after a quiet spell, so memory
//! follows active users, not all users. Charges and payment debits are ledger rows
//! written through before the reply. The actor keeps the balance to refuse a
//! payment it cannot cover without a store round trip; the store's `CHECK
//! (balance >= 0)` stays the final word.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::time::Instant;

use crate::clock::Clock;
use crate::domain::{ChargeAmount, Points, UserId};
use crate::error::{EngineError, EngineResult};
use crate::mailbox::Reply;
use crate::store::{ChargeKey, NewPayment, PaymentRow, Store, StoreError};

/// The messages a Wallet handles.
#[derive(Debug)]
pub enum WalletMsg {
    /// The balance.
    Balance {
        /// The balance.
        reply: Reply<Points>,
    },
    /// Add points.
    Charge {
        /// How many.
        amount: ChargeAmount,
        /// The retry key this charge is to be named by, if any.
        key: Option<ChargeKey>,
        /// The new balance once stored; `IdempotencyKeyReused` if the key names a
        /// charge already (nothing written).
        reply: Reply<Points>,
    },
    /// Debit a payment: debit, payment row and sale in one store transaction.
    Pay {
        /// The payment (its user is this wallet's).
        payment: NewPayment,
        /// The committed payment, or why not.
        reply: Reply<PaymentRow>,
    },
    /// Timer: stop if nothing happened for the idle time.
    IdleCheck,
    /// Test-only fault injection: the actor panics while handling this message,
    /// dropping `reply` as a crash drops the reply of whatever request it was handling.
    #[cfg(feature = "testkit")]
    Crash {
        /// Never answered.
        reply: Reply<()>,
    },
}

/// The Wallet actor.
pub struct Wallet {
    /// Where ledger rows are written.
    pub store: Arc<dyn Store>,
    /// Time source shared with the rest of the engine.
    pub clock: Clock,
    /// Stop after this long without a message.
    pub idle_after: Duration,
}

/// A wallet's state.
pub struct WalletState {
    user_id: UserId,
    balance: Points,
    last_active: Instant,
    /// A write failed with an unknown outcome: the balance is read again before use.
    stale: bool,
}

impl Actor for Wallet {
    type Msg = WalletMsg;
    type State = WalletState;
    type Arguments = UserId;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        user_id: UserId,
    ) -> Result<Self::State, ActorProcessingErr> {
        let balance = self.store.balance(&user_id).await?;
        myself.send_interval(self.idle_after / 2, || WalletMsg::IdleCheck);
        Ok(WalletState {
            user_id,
            balance,
            last_active: self.clock.now(),
            stale: false,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let now = self.clock.now();
        match message {
            WalletMsg::IdleCheck => {
                if now.saturating_duration_since(state.last_active) >= self.idle_after {
                    // Draining answers what was already queued, then stops. A draining
                    // wallet takes no new message and the registry no longer hands it
                    // out (its mailbox is closed), so new requests spawn a fresh wallet;
                    // the supervisor takes it out of the registry once it has stopped.
                    myself.drain()?;
                }
                return Ok(());
            }
            WalletMsg::Balance { reply } => {
                reply.send(self.fresh(state).await.map(|()| state.balance));
            }
            WalletMsg::Charge { amount, key, reply } => {
                if reply.is_abandoned() {
                    // Its caller was told 503 and may charge again: applying it now
                    // would charge twice.
                    return Ok(());
                }
                if let Err(error) = self.fresh(state).await {
                    reply.send(Err(error));
                    return Ok(());
                }
                let keyed = key.is_some();
                let charged = self
                    .store
                    .keyed_charge(&state.user_id, amount, self.clock.now_utc(), key)
                    .await;
                match &charged {
                    Ok(balance) => state.balance = *balance,
                    Err(StoreError::Unavailable(_)) => state.stale = true,
                    Err(_) => {}
                }
                reply.send(charged.map_err(|error| match error {
                    // The one constraint a keyed charge can break: its key is taken.
                    StoreError::Conflict(_) if keyed => EngineError::IdempotencyKeyReused,
                    error => error.into(),
                }));
            }
            WalletMsg::Pay { payment, reply } => {
                let paid = match self.fresh(state).await {
                    Ok(()) => self.pay(state, payment).await,
                    Err(error) => Err(error),
                };
                reply.send(paid);
            }
            #[cfg(feature = "testkit")]
            WalletMsg::Crash { reply } => {
                let _unanswered = reply;
                panic!("test-only fault injected into a wallet")
            }
        }
        assert!(state.balance.0 >= 0, "a balance never goes below zero");
        state.last_active = now;
        Ok(())
    }
}

impl Wallet {
    /// Reads the balance again if a write's outcome was unknown.
    async fn fresh(&self, state: &mut WalletState) -> EngineResult<()> {
        if state.stale {
            state.balance = self.store.balance(&state.user_id).await?;
            state.stale = false;
        }
        Ok(())
    }

    async fn pay(&self, state: &mut WalletState, payment: NewPayment) -> EngineResult<PaymentRow> {
        assert_eq!(
            payment.user_id, state.user_id,
            "a wallet pays for its own user"
        );
        if state.balance < payment.amount {
            return Err(EngineError::InsufficientBalance);
        }
        match self.store.commit_payment(&payment).await {
            Ok(row) => {
                state.balance = row.balance_after;
                Ok(row)
            }
            Err(StoreError::InsufficientBalance) => {
                // The store knows better than this actor's copy: take its balance.
                if let Ok(balance) = self.store.balance(&state.user_id).await {
                    state.balance = balance;
                }
                Err(EngineError::InsufficientBalance)
            }
            Err(StoreError::Conflict(_)) => Err(EngineError::AlreadyPaid),
            Err(StoreError::NotFound) => Err(EngineError::ReservationNotFound),
            Err(error) => {
                state.stale = true;
                Err(error.into())
            }
        }
    }
}
