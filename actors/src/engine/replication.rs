//! The engine's side of the line's read replicas (cluster mode, `docs/scale-out.md`,
//! "The line on every node"): the owner's rooms hand their changes to the
//! [`EngineConfig::line_sink`], a replica asks for a whole picture
//! ([`Engine::republish_lines`]), and the polls replicas answered are reported back as
//! seen ([`Engine::touch_tokens`]) so the owner does not evict those tokens as idle.

use super::{Engine, EngineConfig};
use crate::domain::QueueToken;
use crate::waiting_room::{LineReplicas, WaitingRoomMsg};

impl EngineConfig {
    /// Empty replicas of the rooms' lines, with this engine's rules (the same on
    /// every node of a cluster).
    pub fn line_replicas(&self) -> LineReplicas {
        LineReplicas::new(self.room_config())
    }
}

impl Engine {
    /// Every room's next batch of line changes is a whole picture (a replica missed
    /// some, or just started). Rooms whose actor is down picture themselves whole
    /// when they restart anyway.
    pub fn republish_lines(&self) {
        for room in self.inner.rooms.ids() {
            if let Ok(mailbox) = self.waiting_room(room) {
                let _ = mailbox.actor().cast(WaitingRoomMsg::Republish);
            }
        }
    }

    /// Records that these tokens were polled (on a replica): each keeps its place in
    /// line, or its admission, as a poll here would. Unknown tokens are skipped.
    pub fn touch_tokens(&self, tokens: &[QueueToken]) {
        let now = self.inner.clock.now();
        for token in tokens {
            self.inner.rooms.find(None, |_, published| {
                published.touch(*token, now).then_some(())
            });
        }
    }
}
