//! OAuth 2 machinery, provider-neutral.
//!
//! The pieces, one module each:
//! - [`http`]: the adapter that sends `oauth2`'s requests through the
//!   engine's reqwest client;
//! - [`client`]: authorize URLs and token requests (client secret in the
//!   body), failures as [`client::TokenEndpointError`];
//! - [`response`]: lenient token responses and OAuth error bodies;
//! - [`pkce`] and [`state`]: PKCE S256 and the one-time `state`;
//! - [`callback`]: the callback query string;
//! - [`grants`]: the grant seam (refresh token, tenant, scopes) the
//!   installation store implements;
//! - [`cache`]: the access token cache, one refresh for all callers,
//!   quiet periods;
//! - [`provider`]: what a connector decides (scopes, error meanings, token
//!   checks);
//! - [`oauth_credential`]: the engine's [`switchboard_core::credential::Credential`]
//!   on a grant; [`code_flow`]: authorization code `begin` / `complete`;
//! - [`context`]: the shared services bundled; [`clock`]: injectable time.
//!
//! See `docs/auth.md` for the flows end to end.
//!
//! ```
//! use switchboard_oauth::pkce::{new_pkce_pair, s256_challenge};
//! let (challenge, verifier) = new_pkce_pair();
//! assert_eq!(challenge.as_str(), s256_challenge(verifier.secret()));
//! ```

#![deny(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod cache;
pub mod callback;
pub mod client;
pub mod clock;
pub mod code_flow;
pub mod context;
pub mod grants;
pub mod http;
pub mod oauth_credential;
pub mod pkce;
pub mod provider;
pub mod response;
pub mod state;
