//! The optional proof of work on new queue tokens: a short-lived challenge signed by
//! this process, and a nonce that makes `SHA-256("<challenge>:<nonce>")` start with the
//! configured number of zero bits. Each challenge is good for one new token.
//!
//! The challenge is `<bits>.<expires>.<id>.<mac>`: `bits` the difficulty it was issued
//! for, `expires` Unix seconds, `id` 16 random bytes in hex, `mac` the first 16 bytes of
//! HMAC-SHA-256 over `<bits>.<expires>.<id>` under a key drawn at start, in hex. The
//! proof is the `X-Pow` header `<challenge>:<nonce>` (nonce: 1 to 32 of `A-Z a-z 0-9`),
//! and the hash is taken over exactly those bytes of the header.
//!
//! The key is per process: behind several nodes, a challenge from one is refused by the
//! others (and the used set is per node too), so a multi-node setup would share the key
//! (a setting) and keep the used ids in a shared store, or pin a client to one node.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// How long a challenge may be answered.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(120);

/// Challenges answered and not yet expired, at most: past it (a flood of solved
/// challenges within one TTL), new proofs are refused as overload until some expire.
pub const MAX_USED_CHALLENGES: usize = 100_000;

const MAC_BYTES: usize = 16;

/// Why a proof was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowError {
    /// No `X-Pow` header.
    Missing,
    /// Malformed, not signed here, expired, too easy, not enough zero bits, or used.
    Invalid,
    /// The used set is full.
    Busy,
}

/// A challenge handed to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The challenge text.
    pub challenge: String,
    /// Leading zero bits its proof needs.
    pub bits: u8,
    /// Seconds left to answer it.
    pub expires_in_seconds: u64,
}

/// Issues and checks challenges.
pub struct Pow {
    bits: u8,
    key: [u8; 32],
    used: Mutex<HashMap<[u8; 16], u64>>,
    max_used: usize,
}

impl std::fmt::Debug for Pow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pow")
            .field("bits", &self.bits)
            .finish_non_exhaustive()
    }
}

impl Pow {
    /// Proofs of `bits` leading zero bits, under a fresh random key.
    pub fn new(bits: u8) -> Self {
        Self::with_key(bits, rand::random(), MAX_USED_CHALLENGES)
    }

    fn with_key(bits: u8, key: [u8; 32], max_used: usize) -> Self {
        Self {
            bits,
            key,
            used: Mutex::new(HashMap::new()),
            max_used,
        }
    }

    /// Leading zero bits a proof needs (0: no proof needed).
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// A new challenge.
    pub fn issue(&self) -> Challenge {
        self.issue_at(unix_now(), rand::random())
    }

    fn issue_at(&self, now: u64, id: [u8; 16]) -> Challenge {
        let signed = format!(
            "{}.{}.{}",
            self.bits,
            now + CHALLENGE_TTL.as_secs(),
            hex::encode(id)
        );
        let mac = hex::encode(&self.mac(&signed).finalize().into_bytes()[..MAC_BYTES]);
        Challenge {
            challenge: format!("{signed}.{mac}"),
            bits: self.bits,
            expires_in_seconds: CHALLENGE_TTL.as_secs(),
        }
    }

    fn mac(&self, signed: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC takes any key length");
        mac.update(signed.as_bytes());
        mac
    }

    /// Checks an `X-Pow` header and spends its challenge.
    pub fn spend(&self, proof: Option<&[u8]>) -> Result<(), PowError> {
        self.spend_at(proof, unix_now())
    }

    fn spend_at(&self, proof: Option<&[u8]>, now: u64) -> Result<(), PowError> {
        let proof = proof.ok_or(PowError::Missing)?;
        let text = std::str::from_utf8(proof).map_err(|_| PowError::Invalid)?;
        let (challenge, nonce) = text.split_once(':').ok_or(PowError::Invalid)?;
        if nonce.is_empty() || nonce.len() > 32 || !nonce.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(PowError::Invalid);
        }
        let (signed, mac) = challenge.rsplit_once('.').ok_or(PowError::Invalid)?;
        let mac = hex::decode(mac).map_err(|_| PowError::Invalid)?;
        if mac.len() != MAC_BYTES {
            return Err(PowError::Invalid);
        }
        // Constant-time comparison of the (truncated) tag.
        self.mac(signed)
            .verify_truncated_left(&mac)
            .map_err(|_| PowError::Invalid)?;
        let mut fields = signed.split('.');
        let (Some(bits), Some(expires), Some(id), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(PowError::Invalid);
        };
        let bits: u8 = bits.parse().map_err(|_| PowError::Invalid)?;
        let expires: u64 = expires.parse().map_err(|_| PowError::Invalid)?;
        let id: [u8; 16] = hex::decode(id)
            .ok()
            .and_then(|id| id.try_into().ok())
            .ok_or(PowError::Invalid)?;
        // A challenge issued before the difficulty was raised is too easy now.
        if bits < self.bits || now >= expires {
            return Err(PowError::Invalid);
        }
        if leading_zero_bits(&Sha256::digest(proof)) < u32::from(self.bits) {
            return Err(PowError::Invalid);
        }
        let mut used = self
            .used
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if used.len() >= self.max_used {
            used.retain(|_, expires| *expires > now);
            if used.len() >= self.max_used {
                return Err(PowError::Busy);
            }
        }
        match used.insert(id, expires) {
            None => Ok(()),
            Some(_) => Err(PowError::Invalid),
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// Zero bits before the first one bit.
pub fn leading_zero_bits(hash: &[u8]) -> u32 {
    let mut zeros = 0;
    for byte in hash {
        zeros += byte.leading_zeros();
        if *byte != 0 {
            break;
        }
    }
    zeros
}

/// Finds a nonce for `challenge` (what a client does; for tests and measurements).
pub fn solve(challenge: &str, bits: u8) -> String {
    (0u64..)
        .map(|n| n.to_string())
        .find(|nonce| {
            leading_zero_bits(&Sha256::digest(format!("{challenge}:{nonce}"))) >= u32::from(bits)
        })
        .expect("some nonce works")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn pow(bits: u8) -> Pow {
        Pow::with_key(bits, [7; 32], 2)
    }

    fn proof(challenge: &Challenge) -> String {
        format!(
            "{}:{}",
            challenge.challenge,
            solve(&challenge.challenge, challenge.bits)
        )
    }

    #[test]
    fn a_solved_challenge_is_accepted_once() {
        let pow = pow(8);
        let proof = proof(&pow.issue_at(NOW, [1; 16]));
        assert_eq!(pow.spend_at(Some(proof.as_bytes()), NOW), Ok(()));
        assert_eq!(
            pow.spend_at(Some(proof.as_bytes()), NOW),
            Err(PowError::Invalid)
        );
    }

    #[test]
    fn missing_unsolved_forged_expired_and_easier_proofs_are_refused() {
        let pow = pow(8);
        assert_eq!(pow.spend_at(None, NOW), Err(PowError::Missing));
        let challenge = pow.issue_at(NOW, [1; 16]);
        let unsolved = (0u64..)
            .map(|n| format!("{}:{n}", challenge.challenge))
            .find(|p| leading_zero_bits(&Sha256::digest(p)) < 8)
            .unwrap();
        assert_eq!(
            pow.spend_at(Some(unsolved.as_bytes()), NOW),
            Err(PowError::Invalid)
        );
        let solved = proof(&challenge);
        let expired = NOW + CHALLENGE_TTL.as_secs();
        assert_eq!(
            pow.spend_at(Some(solved.as_bytes()), expired),
            Err(PowError::Invalid)
        );
        // Another process's key, or an edited difficulty, breaks the signature.
        let foreign = proof(&Pow::with_key(8, [8; 32], 2).issue_at(NOW, [1; 16]));
        assert_eq!(
            pow.spend_at(Some(foreign.as_bytes()), NOW),
            Err(PowError::Invalid)
        );
        let edited = solved.replacen("8.", "9.", 1);
        assert_eq!(
            pow.spend_at(Some(edited.as_bytes()), NOW),
            Err(PowError::Invalid)
        );
        // A challenge issued for fewer bits than now required.
        let easy = proof(&Pow::with_key(2, [7; 32], 2).issue_at(NOW, [2; 16]));
        assert_eq!(
            pow.spend_at(Some(easy.as_bytes()), NOW),
            Err(PowError::Invalid)
        );
        for junk in [
            "",
            ":",
            "a:1",
            "x.y.z.w:1",
            &format!("{}:n-1", challenge.challenge),
        ] {
            assert_eq!(
                pow.spend_at(Some(junk.as_bytes()), NOW),
                Err(PowError::Invalid),
                "{junk}"
            );
        }
    }

    #[test]
    fn the_used_set_is_bounded_and_forgets_expired_challenges() {
        let pow = pow(1);
        for id in 1..=2 {
            let proof = proof(&pow.issue_at(NOW, [id; 16]));
            assert_eq!(pow.spend_at(Some(proof.as_bytes()), NOW), Ok(()));
        }
        let third = proof(&pow.issue_at(NOW, [3; 16]));
        assert_eq!(
            pow.spend_at(Some(third.as_bytes()), NOW),
            Err(PowError::Busy)
        );
        let later = NOW + CHALLENGE_TTL.as_secs();
        let fourth = proof(&pow.issue_at(later, [4; 16]));
        assert_eq!(pow.spend_at(Some(fourth.as_bytes()), later), Ok(()));
    }

    #[test]
    fn leading_zero_bits_counts_across_bytes() {
        assert_eq!(leading_zero_bits(&[0, 0x10, 0xff]), 11);
        assert_eq!(leading_zero_bits(&[0x80]), 0);
        assert_eq!(leading_zero_bits(&[0, 0]), 16);
    }
}
