//! Balances, charges and the operator's credits: a live token (waiting or admitted)
//! suffices for the caller's own wallet; a credit names its user.
//!
//! A charge or credit sent with an idempotency key is applied once: the key is looked
//! up first (a retry replays the first answer, the balance right after that charge,
//! also after a restart), and the store refuses a second charge under one key (the
//! `keyed_charges` primary key), so two requests racing with one key credit once and
//! the loser is answered the winner's charge.

use super::{Engine, Live};
use crate::domain::{ChargeAmount, IdempotencyKey, Points, UserId};
use crate::error::{EngineError, EngineResult};
use crate::store::{ChargeKey, ChargeSource};
use crate::wallet::WalletMsg;

/// A user's balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletView {
    /// The user.
    pub user_id: UserId,
    /// Points.
    pub balance: Points,
}

impl Engine {
    /// The caller's balance.
    pub async fn balance(&self, caller: &Live) -> EngineResult<WalletView> {
        let balance = self
            .ask_wallet(&caller.user_id, |reply| WalletMsg::Balance { reply })
            .await?;
        Ok(WalletView {
            user_id: caller.user_id.clone(),
            balance,
        })
    }

    /// Adds points to the caller's wallet; with a key, once (see the module docs).
    pub async fn charge(
        &self,
        caller: &Live,
        amount: ChargeAmount,
        key: Option<IdempotencyKey>,
    ) -> EngineResult<WalletView> {
        let key = key.map(|key| ChargeKey {
            source: ChargeSource::Charge,
            key,
        });
        self.add_points(&caller.user_id, amount, key).await
    }

    /// The operator's credit (its payment provider's callback) to a user's wallet:
    /// through the user's Wallet and the ledger like a charge, once per key. The
    /// operator's keys are apart from the user's own charge keys.
    pub async fn credit(
        &self,
        user_id: &UserId,
        amount: ChargeAmount,
        key: IdempotencyKey,
    ) -> EngineResult<WalletView> {
        let key = ChargeKey {
            source: ChargeSource::Credit,
            key,
        };
        self.add_points(user_id, amount, Some(key)).await
    }

    async fn add_points(
        &self,
        user_id: &UserId,
        amount: ChargeAmount,
        key: Option<ChargeKey>,
    ) -> EngineResult<WalletView> {
        if let Some(key) = &key
            && let Some(first) = self.replay_charge(user_id, key, amount).await?
        {
            return first;
        }
        let charged = self
            .ask_wallet(user_id, |reply| WalletMsg::Charge {
                amount,
                key: key.clone(),
                reply,
            })
            .await;
        match (charged, &key) {
            // The key was taken since it was looked up: by a request racing this one.
            (Err(EngineError::IdempotencyKeyReused), Some(key)) => self
                .replay_charge(user_id, key, amount)
                .await?
                .unwrap_or(Err(EngineError::StorageUnavailable)),
            (charged, _) => charged.map(|balance| WalletView {
                user_id: user_id.clone(),
                balance,
            }),
        }
    }

    /// The charge this key names: `Some(Ok)` (its answer again) if it added the same
    /// amount, `Some(Err)` if another, `None` if the key is unused.
    async fn replay_charge(
        &self,
        user_id: &UserId,
        key: &ChargeKey,
        amount: ChargeAmount,
    ) -> EngineResult<Option<EngineResult<WalletView>>> {
        let first = self.inner.store.charge_by_key(user_id, key).await?;
        Ok(first.map(|first| {
            if first.amount.0 == amount.0 {
                Ok(WalletView {
                    user_id: user_id.clone(),
                    balance: first.balance_after,
                })
            } else {
                Err(EngineError::IdempotencyKeyReused)
            }
        }))
    }
}
