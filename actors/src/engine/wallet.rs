//! Balances and charges: a live token (waiting or admitted) suffices.

use super::{Engine, Live};
use crate::domain::{ChargeAmount, Points, UserId};
use crate::error::EngineResult;
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

    /// Adds points to the caller's wallet.
    pub async fn charge(&self, caller: &Live, amount: ChargeAmount) -> EngineResult<WalletView> {
        let balance = self
            .ask_wallet(&caller.user_id, |reply| WalletMsg::Charge { amount, reply })
            .await?;
        Ok(WalletView {
            user_id: caller.user_id.clone(),
            balance,
        })
    }
}
