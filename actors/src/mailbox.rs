//! Bounded intake in front of every actor, and the one way the engine asks an actor.
//!
//! ractor's mailboxes are unbounded, so each actor reference is wrapped in a
//! [`Mailbox`] with a fixed number of permits. A request takes a permit before it
//! is sent and the permit travels inside its [`Reply`], so it is given back only
//! when the actor answers or drops the message: the number of requests queued at
//! an actor can never pass its capacity, even when callers time out. A caller
//! that finds no permit is told [`EngineError::Overloaded`] at once (HTTP 503).

use std::sync::Arc;
use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{ActorRef, Message, MessagingErr, RpcReplyPort};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{EngineError, EngineResult};

/// Where an actor's answer goes: an RPC port plus the intake permit of the request.
pub struct Reply<T> {
    port: RpcReplyPort<EngineResult<T>>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl<T> Reply<T> {
    /// True when the caller stopped waiting (it timed out and was answered 503): an
    /// actor skips a write nobody will hear of, rather than apply it unseen.
    pub fn is_abandoned(&self) -> bool {
        self.port.is_closed()
    }

    /// Answers the caller. A caller that gave up (timed out) is not an error.
    pub fn send(self, value: EngineResult<T>) {
        let _ = self.port.send(value);
    }
}

impl<T> std::fmt::Debug for Reply<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reply")
    }
}

/// An actor reference with a bounded intake.
pub struct Mailbox<M: Message> {
    actor: ActorRef<M>,
    permits: Arc<Semaphore>,
}

impl<M: Message> Clone for Mailbox<M> {
    fn clone(&self) -> Self {
        Self {
            actor: self.actor.clone(),
            permits: self.permits.clone(),
        }
    }
}

impl<M: Message> std::fmt::Debug for Mailbox<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox")
            .field("actor", &self.actor.get_id())
            .field("free_permits", &self.permits.available_permits())
            .finish()
    }
}

impl<M: Message> Mailbox<M> {
    /// Wraps `actor` with room for `capacity` requests in flight.
    pub fn new(actor: ActorRef<M>, capacity: usize) -> Self {
        Self {
            actor,
            permits: Arc::new(Semaphore::new(capacity)),
        }
    }

    /// The actor behind this mailbox.
    pub fn actor(&self) -> &ActorRef<M> {
        &self.actor
    }

    /// Sends a request built around a [`Reply`] and waits for the answer.
    ///
    /// - no permit left: [`EngineError::Overloaded`], nothing sent;
    /// - the actor is gone: [`EngineError::Unreachable`], nothing sent;
    /// - the actor dropped the reply (it crashed handling this message):
    ///   [`EngineError::ActorFailed`];
    /// - no answer within `timeout`: [`EngineError::Timeout`] (the request may still run).
    pub async fn ask<T: Send + 'static>(
        &self,
        build: impl FnOnce(Reply<T>) -> M,
        timeout: Duration,
    ) -> EngineResult<T> {
        let permit = self.permits.clone().try_acquire_owned().map_err(|_| {
            crate::metrics::mailbox_rejected();
            EngineError::Overloaded
        })?;
        let called = self
            .actor
            .call(
                |port| {
                    build(Reply {
                        port,
                        _permit: Some(permit),
                    })
                },
                Some(timeout),
            )
            .await;
        match called {
            Ok(CallResult::Success(answer)) => answer,
            Ok(CallResult::Timeout) => Err(EngineError::Timeout),
            Ok(CallResult::SenderError) => Err(EngineError::ActorFailed),
            Err(MessagingErr::SendErr(_) | MessagingErr::ChannelClosed) => {
                Err(EngineError::Unreachable)
            }
            Err(MessagingErr::InvalidActorType) => Err(EngineError::ActorFailed),
        }
    }

    /// True when the actor no longer takes messages (stopped, draining or crashed).
    pub fn is_closed(&self) -> bool {
        !matches!(
            self.actor.get_status(),
            ractor::ActorStatus::Running
                | ractor::ActorStatus::Starting
                | ractor::ActorStatus::Upgrading
        )
    }
}
