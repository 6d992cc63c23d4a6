//! PKCE (RFC 7636), always with the S256 method.
//!
//! The verifier is 32 random bytes (43 URL-safe characters) from `oauth2`;
//! the challenge sent in the authorize URL is
//! `BASE64URL(SHA-256(verifier))`. The `plain` method is never used.
//!
//! ```
//! use switchboard_oauth::pkce::{new_pkce_pair, s256_challenge};
//!
//! let (challenge, verifier) = new_pkce_pair();
//! assert_eq!(challenge.method().as_str(), "S256");
//! assert_eq!(challenge.as_str(), s256_challenge(verifier.secret()));
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oauth2::{PkceCodeChallenge, PkceCodeVerifier};
use sha2::{Digest, Sha256};

/// A fresh S256 challenge and its verifier (the verifier is a redacting secret).
pub fn new_pkce_pair() -> (PkceCodeChallenge, PkceCodeVerifier) {
    PkceCodeChallenge::new_random_sha256()
}

/// The S256 challenge for a verifier: base64url without padding of its SHA-256.
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}
