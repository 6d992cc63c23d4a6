//! [`OAuthHooks`]: what a connector adds, in Rust, to the install flow its
//! definition declares ([`super::generic_flow::DefinitionFlow`]).
//!
//! The definition says where to send the browser and the token requests
//! (per deployment), which grant, which scopes and how to read the token
//! answer. A connector whose identity service needs more than that
//! (Microsoft 365: tenant rules, AADSTS codes, the token's `tid`)
//! implements this trait for exactly what data can't say, and installs
//! through [`DefinitionFlow::with_hooks`](super::generic_flow::DefinitionFlow::with_hooks).
//! Every method has a default that does nothing beyond the data, so a
//! connector overrides only the hooks it needs, and each override's doc
//! comment says why data can't express it.
//!
//! ```
//! use std::sync::Arc;
//! use switchboard_core::definition::ConnectorDefinition;
//! use switchboard_core::Result;
//! use switchboard_installations::install::Installation;
//! use switchboard_installations::lifecycle::flow::InstallFlow;
//! use switchboard_installations::lifecycle::generic_flow::DefinitionFlow;
//! use switchboard_installations::lifecycle::hooks::OAuthHooks;
//!
//! /// Acme's tenants are lower-case (a rule its definition can't state).
//! #[derive(Debug)]
//! struct AcmeHooks;
//! impl OAuthHooks for AcmeHooks {
//!     fn check(&self, installation: &mut Installation) -> Result<()> {
//!         installation.tenant_id = installation.tenant_id.as_ref().map(|t| t.to_lowercase());
//!         Ok(())
//!     }
//! }
//!
//! let def: ConnectorDefinition = serde_json::from_value(serde_json::json!({
//!   "id": "acme", "name": "Acme", "version": "1.0.0", "description": "Acme CRM",
//!   "base_url": "https://api.acme.example", "allowed_hosts": ["api.acme.example"],
//!   "identity_hosts": ["login.acme.example"],
//!   "auth_variants": [{"id": "app", "name": "App", "kind": "oauth2",
//!     "oauth2": {"grant": "client_credentials", "token_url": "https://login.acme.example/token"}}],
//!   "categories": [{"id": "things", "name": "Things"}]
//! })).unwrap();
//! let flow = DefinitionFlow::new(Arc::new(def)).with_hooks(Arc::new(AcmeHooks));
//! let mut inst = Installation::new("acct", "acme", "1.0.0", "app")
//!     .with_tenant_id(Some("Contoso".into()));
//! flow.check(&mut inst).unwrap();
//! assert_eq!(inst.tenant_id.as_deref(), Some("contoso"));
//! ```

use std::fmt;
use std::sync::Arc;

use super::flow::{ConnectionTest, FlowContext};
use crate::install::Installation;
use switchboard_core::error::Result;
use switchboard_core::local_origins;
use switchboard_oauth::callback::CallbackParams;
use switchboard_oauth::provider::Provider;

/// A connector's additions to its declared OAuth flow. Every method
/// defaults to what the definition alone does.
pub trait OAuthHooks: Send + Sync + fmt::Debug {
    /// Setting names accepted besides the definition's install parameters
    /// and its deployments' origin settings. The default: the loopback
    /// overrides of [`switchboard_core::local_origins`].
    fn extra_settings(&self) -> &[&str] {
        &local_origins::SETTINGS
    }

    /// Check and normalise the new record after the definition's own
    /// checks (variant, deployment, loopback overrides). No network.
    /// Errors name the field.
    fn check(&self, installation: &mut Installation) -> Result<()> {
        let _ = installation;
        Ok(())
    }

    /// The permissions to ask consent for and to report as granted, or
    /// `None` for the definition's: every enabled method's declared
    /// permissions for the variant.
    fn consent_permissions(
        &self,
        ctx: &FlowContext,
        installation: &Installation,
    ) -> Result<Option<Vec<String>>> {
        let _ = (ctx, installation);
        Ok(None)
    }

    /// The permissions every token of a refresh-token credential asks for,
    /// whatever the method, or `None` for each method's own permissions.
    fn token_permissions(
        &self,
        ctx: &FlowContext,
        installation: &Installation,
    ) -> Result<Option<Vec<String>>> {
        let _ = (ctx, installation);
        Ok(None)
    }

    /// The provider the token requests and callbacks go through: how
    /// permissions become a token's scopes, how the token endpoint's and
    /// the callback's errors read, what a fresh token must satisfy. The
    /// default is `declared`, the variant's declared scopes and the
    /// standard RFC 6749 error codes. (The consent link's scopes are
    /// always the declared ones.)
    fn provider(
        &self,
        installation: &Installation,
        declared: Arc<dyn Provider>,
    ) -> Result<Arc<dyn Provider>> {
        let _ = installation;
        Ok(declared)
    }

    /// Check an administrator's consent callback (grant
    /// `client_credentials` with an `admin_consent_url`) after its state
    /// and `error` are checked and before the consent is proven by a token
    /// request. Returns the tenant the consent was granted in, when the
    /// callback says (it replaces the installation's tenant), or `None`.
    fn check_admin_consent(
        &self,
        installation: &Installation,
        params: &CallbackParams,
    ) -> Result<Option<String>> {
        let _ = (installation, params);
        Ok(None)
    }

    /// The read that proves the grant. `declared` is the variant's
    /// `test_method` (called without arguments), which the default keeps.
    fn connection_test(
        &self,
        ctx: &FlowContext,
        installation: &Installation,
        declared: Option<ConnectionTest>,
    ) -> Result<Option<ConnectionTest>> {
        let _ = (ctx, installation);
        Ok(declared)
    }
}

/// No hooks: the definition says everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHooks;

impl OAuthHooks for NoHooks {}
