//! Signed tokens: JWT-shaped access tokens (HS256) and the opaque,
//! tamper-evident continuation tokens the sandbox hands out (skip tokens,
//! delta tokens, download links).
//!
//! Nothing here is a real credential: the key is derived from the seed so a
//! sandbox restarted with the same seed accepts the same links. Access tokens
//! are additionally recorded in the state so that
//! [`crate::SandboxHandle::expire_all_tokens`] can expire them.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// HMAC-SHA256 (RFC 2104).
pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

/// base64url without padding.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding.
pub(crate) fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

/// SHA-256 then base64url: the PKCE S256 transform.
pub(crate) fn s256(verifier: &str) -> String {
    b64url(&Sha256::digest(verifier.as_bytes()))
}

/// Signs and checks the sandbox's tokens with one key.
pub(crate) struct Signer {
    key: [u8; 32],
}

impl Signer {
    /// A signer whose key is derived from the seed.
    pub(crate) fn from_seed(seed: u64) -> Self {
        let mut h = Sha256::new();
        h.update(b"switchboard-microsoft365-sandbox signing key");
        h.update(seed.to_le_bytes());
        Signer {
            key: h.finalize().into(),
        }
    }

    fn mac(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        let mut msg = Vec::with_capacity(purpose.len() + 1 + data.len());
        msg.extend_from_slice(purpose.as_bytes());
        msg.push(0);
        msg.extend_from_slice(data);
        hmac_sha256(&self.key, &msg)
    }

    /// An opaque token carrying `payload`, bound to `purpose`.
    pub(crate) fn seal(&self, purpose: &str, payload: &Value) -> String {
        let body = b64url(payload.to_string().as_bytes());
        let mac = self.mac(purpose, body.as_bytes());
        format!("{body}.{}", b64url(&mac[..18]))
    }

    /// The payload of a token made by [`Signer::seal`] for `purpose`, or
    /// `None` if it was altered or made for something else.
    pub(crate) fn open(&self, purpose: &str, token: &str) -> Option<Value> {
        let (body, mac) = token.split_once('.')?;
        let expected = self.mac(purpose, body.as_bytes());
        let given = b64url_decode(mac)?;
        if given.len() != 18 || !bool::from(given.as_slice().ct_eq(&expected[..18])) {
            return None;
        }
        serde_json::from_slice(&b64url_decode(body)?).ok()
    }

    /// A JWT (`header.payload.signature`, HS256) with `claims`.
    pub(crate) fn jwt(&self, claims: &Value) -> String {
        let header = serde_json::json!({"typ": "JWT", "alg": "HS256", "kid": "sandbox"});
        let signing_input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let sig = hmac_sha256(&self.key, signing_input.as_bytes());
        format!("{signing_input}.{}", b64url(&sig))
    }

    /// The claims of a JWT this signer made, or `None` if the signature
    /// does not verify.
    pub(crate) fn verify_jwt(&self, token: &str) -> Option<Value> {
        let mut parts = token.split('.');
        let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let expected = hmac_sha256(&self.key, format!("{h}.{p}").as_bytes());
        let given = b64url_decode(s)?;
        if !bool::from(given.as_slice().ct_eq(&expected)) {
            return None;
        }
        serde_json::from_slice(&b64url_decode(p)?).ok()
    }

    /// A deterministic opaque identifier: unguessable without the key,
    /// unique per `(purpose, counter)`.
    pub(crate) fn opaque_id(&self, purpose: &str, counter: u64) -> String {
        b64url(&self.mac(purpose, &counter.to_le_bytes())[..24])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn seal_rejects_tampering_and_other_purposes() {
        let s = Signer::from_seed(1);
        let t = s.seal("skip", &serde_json::json!({"o": 5}));
        assert_eq!(s.open("skip", &t).unwrap()["o"], 5);
        assert!(s.open("delta", &t).is_none());
        let mut bad = t.clone();
        bad.insert(0, 'x');
        assert!(s.open("skip", &bad).is_none());
        let jwt = s.jwt(&serde_json::json!({"tid": "t"}));
        assert_eq!(s.verify_jwt(&jwt).unwrap()["tid"], "t");
        assert!(Signer::from_seed(2).verify_jwt(&jwt).is_none());
    }

    #[test]
    fn pkce_s256_is_base64url_sha256() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mJ0kXCFN6A3sPeOp5rVqTcQiY2hxkM"),
            "ugVKNT2tNz9luQE65EFP3_-3uUCMejBdovlemwAo5FE"
        );
    }
}
