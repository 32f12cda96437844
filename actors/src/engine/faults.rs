//! Test-only: fault injection into the actors, and what tests observe of them.

use super::Engine;
use crate::domain::{RoomId, SessionId, UserId};
use crate::error::EngineResult;
use crate::session::SessionMsg;
use crate::waiting_room::WaitingRoomMsg;
use crate::wallet::WalletMsg;

/// Which actor a test-only fault goes to.
#[derive(Debug, Clone)]
pub enum FaultTarget {
    /// A room's WaitingRoom.
    WaitingRoom(RoomId),
    /// A session's actor.
    Session(SessionId),
    /// A user's wallet.
    Wallet(UserId),
}

impl Engine {
    /// Makes the named actor panic while handling a request. Answers what that
    /// request's caller gets: `ActorFailed`.
    pub async fn inject_fault(&self, target: FaultTarget) -> EngineResult<()> {
        let timeout = self.inner.config.call_timeout;
        match target {
            FaultTarget::WaitingRoom(room) => {
                self.waiting_room(room)?
                    .ask(|reply| WaitingRoomMsg::Crash { reply }, timeout)
                    .await
            }
            FaultTarget::Session(id) => {
                self.session(id)?
                    .ask(|reply| SessionMsg::Crash { reply }, timeout)
                    .await
            }
            FaultTarget::Wallet(user) => {
                self.wallet(&user)
                    .await?
                    .ask(|reply| WalletMsg::Crash { reply }, timeout)
                    .await
            }
        }
    }

    /// Wallet actors running now.
    pub fn running_wallets(&self) -> usize {
        self.inner.registry.wallet_count()
    }
}
