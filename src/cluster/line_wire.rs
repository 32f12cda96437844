//! How the line's changes travel (`docs/scale-out.md`, "The line on every node"): the
//! owner publishes them to a JetStream stream of the cluster's own, every node follows
//! it; a node asks the owner for whole pictures, and reports the polls it answered.
//!
//! A message on the stream is newline-delimited JSON, one `[room, change]` per line,
//! in the order the rooms made them, packed up to [`MESSAGE_BYTES`]. Its headers carry
//! the owner's epoch (a replica drops a stale owner's messages and starts over at a new
//! one's) and the message's number within the owner's term, from 0 (a replica that
//! sees a number skipped knows it missed changes).

use async_nats::HeaderMap;
use async_nats::jetstream::stream;
use axum::body::Bytes;
use std::time::Duration;

use actors::domain::{QueueToken, RoomId};
use actors::engine::LineChange;

/// The owner's epoch.
const EPOCH: &str = "Concert-Epoch";
/// The message's number in the owner's term.
const NUMBER: &str = "Concert-Line-Number";
/// The most bytes of changes one message carries (well under NATS's 1 MB default).
pub const MESSAGE_BYTES: usize = 256 * 1024;
/// The most tokens one report of answered polls carries (16 bytes each).
pub const SEEN_PER_MESSAGE: usize = 4096;

/// The subjects and the stream of one cluster (named after its lease bucket).
#[derive(Debug, Clone)]
pub struct LineSubjects {
    /// The stream's name.
    pub stream: String,
    /// Where the owner publishes the changes.
    pub changes: String,
    /// Where a replica asks the owner for whole pictures.
    pub resync: String,
    /// Where a replica reports the tokens whose polls it answered.
    pub seen: String,
}

impl LineSubjects {
    /// The subjects of the cluster whose lease bucket is `bucket`.
    pub fn of(bucket: &str) -> Self {
        Self {
            stream: format!("{bucket}_line"),
            changes: format!("concert.{bucket}.line.changes"),
            resync: format!("concert.{bucket}.line.resync"),
            seen: format!("concert.{bucket}.line.seen"),
        }
    }

    /// The stream: in memory and short-lived, since a replica that starts or falls
    /// behind asks for a whole picture rather than replaying; bounded in bytes and age.
    pub fn stream_config(&self) -> stream::Config {
        stream::Config {
            name: self.stream.clone(),
            description: Some("concert: the waiting rooms' lines, for read replicas".into()),
            subjects: vec![self.changes.clone()],
            max_age: Duration::from_secs(60),
            max_bytes: 64 * 1024 * 1024,
            storage: stream::StorageType::Memory,
            discard: stream::DiscardPolicy::Old,
            num_replicas: 1,
            ..Default::default()
        }
    }
}

/// One line of a message.
pub fn encode_change(room: RoomId, change: &LineChange, out: &mut Vec<u8>) {
    // A change is plain data (ids, strings, numbers): it always serializes.
    serde_json::to_writer(&mut *out, &(room, change)).expect("a line change serializes");
    out.push(b'\n');
}

/// A message's changes, in order; `None` if one line is not a change.
pub fn decode_changes(payload: &[u8]) -> Option<Vec<(RoomId, LineChange)>> {
    payload
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).ok())
        .collect()
}

/// The headers of message `number` of the owner at `epoch`.
pub fn headers(epoch: u64, number: u64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(EPOCH, epoch.to_string().as_str());
    headers.insert(NUMBER, number.to_string().as_str());
    headers
}

/// (epoch, number) of a message, if it carries them.
pub fn epoch_and_number(headers: Option<&HeaderMap>) -> Option<(u64, u64)> {
    let headers = headers?;
    let epoch = headers.get(EPOCH)?.as_str().parse().ok()?;
    let number = headers.get(NUMBER)?.as_str().parse().ok()?;
    Some((epoch, number))
}

/// A report of answered polls: the tokens' 16 bytes each.
pub fn encode_seen(tokens: &[QueueToken]) -> Bytes {
    tokens
        .iter()
        .flat_map(|token| *token.0.as_bytes())
        .collect::<Vec<u8>>()
        .into()
}

/// The tokens of a report (a trailing partial token is ignored).
pub fn decode_seen(payload: &[u8]) -> Vec<QueueToken> {
    payload
        .chunks_exact(16)
        .map(|bytes| QueueToken(uuid::Uuid::from_slice(bytes).expect("16 bytes")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actors::domain::UserId;

    #[test]
    fn changes_and_reports_cross_as_they_were() {
        let token = QueueToken::generate();
        let changes = vec![
            LineChange::Joined {
                token,
                user_id: UserId::parse("HappyCat").unwrap(),
            },
            LineChange::Admitted {
                tokens: vec![token],
            },
        ];
        let mut payload = Vec::new();
        for change in &changes {
            encode_change(RoomId::Site, change, &mut payload);
        }
        let decoded = decode_changes(&payload).unwrap();
        assert_eq!(decoded.len(), 2);
        assert_eq!(decoded[1], (RoomId::Site, changes[1].clone()));
        assert_eq!(decode_changes(b"{\"no\":1}\n"), None);
        let seen = vec![token, QueueToken::generate()];
        assert_eq!(decode_seen(&encode_seen(&seen)), seen);
        assert_eq!(epoch_and_number(Some(&headers(7, 3))), Some((7, 3)));
        assert_eq!(epoch_and_number(None), None);
    }
}
