//! Verified identities: the `X-User-Token` JWT that names who a new queue token is for,
//! when the operator configures a key (HS256 secret, or an RS256/ES256 public key).

use std::path::Path;

use actors::domain::UserId;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde::Deserialize;

/// The key that signs users' JWTs, as configured.
#[derive(Clone)]
pub enum JwtKey {
    /// `CONCERT_JWT_SECRET`: a shared HS256 secret.
    Secret(String),
    /// `CONCERT_JWT_PUBLIC_KEY`: a PEM public key, RS256 or ES256 (P-256).
    PublicPem(Vec<u8>),
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.write_str(match self {
            Self::Secret(_) => "JwtKey::Secret(<set>)",
            Self::PublicPem(_) => "JwtKey::PublicPem(..)",
        })
    }
}

impl JwtKey {
    /// Reads a PEM public key file.
    pub fn from_pem_file(path: &Path) -> std::io::Result<Self> {
        std::fs::read(path).map(Self::PublicPem)
    }
}

/// Why the JWT settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IdentityConfigError {
    /// The secret is empty, or the PEM holds neither an RSA nor an EC public key.
    #[error("JWT key: {0}")]
    Key(String),
}

/// What the JWT settings amount to: the key and the claims required of every token.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// The verifying key.
    pub key: JwtKey,
    /// The required `iss`, if any.
    pub issuer: Option<String>,
    /// The required `aud`, if any.
    pub audience: Option<String>,
}

/// Checks users' JWTs: signature (only the configured algorithm: `alg: none` and any
/// other algorithm are refused), `exp` (required), and `iss`/`aud` when configured.
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

/// The claims read from a token; the rest are checked by [`Validation`] or ignored.
#[derive(Deserialize)]
struct Claims {
    sub: String,
}

impl Verifier {
    /// Builds a verifier, refusing an empty secret or a PEM that is not an RSA or EC
    /// public key.
    pub fn new(settings: &JwtSettings) -> Result<Self, IdentityConfigError> {
        let (key, algorithm) = match &settings.key {
            JwtKey::Secret(secret) if secret.is_empty() => {
                return Err(IdentityConfigError::Key("the secret is empty".into()));
            }
            JwtKey::Secret(secret) => (
                DecodingKey::from_secret(secret.as_bytes())
                    .map_err(|error| IdentityConfigError::Key(error.to_string()))?,
                Algorithm::HS256,
            ),
            JwtKey::PublicPem(pem) => match DecodingKey::from_rsa_pem(pem) {
                Ok(key) => (key, Algorithm::RS256),
                Err(_) => match DecodingKey::from_ec_pem(pem) {
                    Ok(key) => (key, Algorithm::ES256),
                    Err(error) => {
                        return Err(IdentityConfigError::Key(format!(
                            "not an RSA or EC public key in PEM: {error}"
                        )));
                    }
                },
            },
        };
        let mut validation = Validation::new(algorithm);
        // jsonwebtoken judges `iss` and `aud` only when present: a configured one is
        // also required, or a token without it would pass.
        let mut required = vec!["exp", "sub"];
        if let Some(issuer) = &settings.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        match &settings.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            // Without a configured audience a token's `aud` is not judged.
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        Ok(Self { key, validation })
    }

    /// The user a token names, or `None` if it is not a valid token of this issuer
    /// (bad signature or algorithm, expired, wrong `iss`/`aud`, or a `sub` outside the
    /// user-id rule).
    pub fn verify(&self, token: &str) -> Option<UserId> {
        let data = decode::<Claims>(token.trim(), &self.key, &self.validation).ok()?;
        UserId::parse(&data.claims.sub).ok()
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}
