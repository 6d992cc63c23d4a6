//! What Microsoft Graph lets an installation subscribe to, as data.
//!
//! A change-notification subscription is one `POST /subscriptions` whose
//! body names a *resource* (`me/mailFolders('inbox')/messages`). The method
//! definitions (`definitions/subscriptions.json`) declare that request and
//! the ones that manage a subscription. What the definition format has no
//! place for lives in `data/subscription_resources.json`, read here:
//!
//! - the **permissions** a subscription needs: Graph authorizes creating (and
//!   later reading, renewing or deleting) a subscription with the permission
//!   that reads its resource (`Contacts.Read` for contacts). A method
//!   definition has one permission list whatever its arguments, so
//!   `subscriptions.create_subscription` lists every resource's first
//!   permission, and the permission of one resource is
//!   [`SubscriptionResource::permissions_for`];
//! - the resource path per auth variant (`me/events`, `users/{user_id}/events`);
//! - the change types Graph reports for it (drives: `updated` only);
//! - its **maximum lifetime**: how far ahead `expirationDateTime` may be
//!   set, at creation and at each renewal. Microsoft's documentation has
//!   changed this for Outlook resources (4,230 minutes in 2021, 10,080 in
//!   2024); `max_lifetime_minutes` is the current value and
//!   `documented_lifetimes` keeps the history. A platform that wants a
//!   margin renews earlier; it never needs to ask for more;
//! - the lifecycle events Graph sends for it, and the delta method that
//!   fetches what a notification (or a `missed` event) announced.
//!
//! ```
//! use switchboard_microsoft365::subscription_resources::SubscriptionResources;
//!
//! let resources = SubscriptionResources::embedded()?;
//! let messages = resources.get("messages").unwrap();
//! assert_eq!(messages.permissions_for("application"), ["Mail.ReadBasic.All", "Mail.Read", "Mail.ReadWrite"]);
//! assert_eq!(messages.max_lifetime().as_secs(), 10_080 * 60);
//! let resource = messages.resource_for("application", &[("user_id", "adele@contoso.com"), ("folder_id", "inbox")])?;
//! assert_eq!(resource, "users/adele@contoso.com/mailFolders('inbox')/messages");
//! # Ok::<(), switchboard_core::Error>(())
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use switchboard_core::{Error, ErrorKind, Result};

/// The embedded file, as `(name, text)` like [`crate::DEFINITION_FILES`].
pub const SUBSCRIPTION_RESOURCES_FILE: (&str, &str) = (
    "data/subscription_resources.json",
    include_str!("../data/subscription_resources.json"),
);

/// The change types Graph knows.
const CHANGE_TYPES: &[&str] = &["created", "updated", "deleted"];

/// The lifecycle events Graph sends.
const LIFECYCLE_EVENTS: &[&str] = &["reauthorizationRequired", "subscriptionRemoved", "missed"];

/// The longest lifetime the file may give: 60 days. Graph's longest today
/// is 43,200 minutes (30 days); anything far beyond is a typo.
const MAX_LIFETIME_MINUTES: u32 = 60 * 24 * 60;

/// The longest value a placeholder may take.
const MAX_VALUE_LEN: usize = 256;

/// One documented value of a maximum lifetime, with where it was read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DocumentedLifetime {
    /// The lifetime in minutes.
    pub minutes: u32,
    /// The documentation page (and its date) that says so.
    pub source: String,
}

/// A kind of resource an installation can subscribe to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SubscriptionResource {
    /// Short name (`messages`, `events`, `contacts`, `drive`, `users`).
    pub id: String,
    /// What it covers, in words.
    pub name: String,
    /// Per auth variant, the permissions that let an installation subscribe
    /// to it, least privileged first.
    pub permissions: BTreeMap<String, Vec<String>>,
    /// The resource path template per auth variant; `{user_id}` and
    /// `{folder_id}` are filled in by [`resource_for`](Self::resource_for).
    pub resource: BTreeMap<String, String>,
    /// The change types Graph reports for it.
    pub change_types: Vec<String>,
    /// How far ahead a subscription may expire, in minutes.
    pub max_lifetime_minutes: u32,
    /// Every value Microsoft's documentation has given, oldest first.
    pub documented_lifetimes: Vec<DocumentedLifetime>,
    /// The lifecycle events Graph sends for it.
    pub lifecycle_events: Vec<String>,
    /// The delta method that reads its changes.
    pub delta_method: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(rename = "$comment")]
    _comment: String,
    #[serde(rename = "sources")]
    _sources: BTreeMap<String, String>,
    resources: Vec<SubscriptionResource>,
}

/// Every resource of `data/subscription_resources.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionResources {
    resources: Vec<SubscriptionResource>,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
    Error::new(
        ErrorKind::InvalidDefinition,
        format!(
            "{}: {}: {}",
            SUBSCRIPTION_RESOURCES_FILE.0,
            field.into(),
            message.into()
        ),
    )
}

impl SubscriptionResources {
    /// The file embedded in the crate, parsed and checked.
    pub fn embedded() -> Result<Self> {
        Self::parse(SUBSCRIPTION_RESOURCES_FILE.1)
    }

    /// Parses and checks a file of this shape: unique ids, known change
    /// types and lifecycle events, a lifetime from 1 minute to 60 days that
    /// is one of the documented ones, and templates whose placeholders are
    /// `user_id` or `folder_id`.
    pub fn parse(text: &str) -> Result<Self> {
        let file: File =
            serde_json::from_str(text).map_err(|e| invalid("(file)", e.to_string()))?;
        let mut seen = Vec::new();
        for (i, r) in file.resources.iter().enumerate() {
            let at = |field: &str| format!("/resources/{i}/{field}");
            if r.id.is_empty() || seen.contains(&r.id.as_str()) {
                return Err(invalid(
                    at("id"),
                    format!("\"{}\" is empty or listed twice", r.id),
                ));
            }
            seen.push(&r.id);
            if r.change_types.is_empty() {
                return Err(invalid(
                    at("change_types"),
                    "must list at least one change type",
                ));
            }
            for c in &r.change_types {
                if !CHANGE_TYPES.contains(&c.as_str()) {
                    return Err(invalid(
                        at("change_types"),
                        format!("\"{c}\" is not one of {}", CHANGE_TYPES.join(", ")),
                    ));
                }
            }
            for e in &r.lifecycle_events {
                if !LIFECYCLE_EVENTS.contains(&e.as_str()) {
                    return Err(invalid(
                        at("lifecycle_events"),
                        format!("\"{e}\" is not one of {}", LIFECYCLE_EVENTS.join(", ")),
                    ));
                }
            }
            if !(1..=MAX_LIFETIME_MINUTES).contains(&r.max_lifetime_minutes) {
                return Err(invalid(
                    at("max_lifetime_minutes"),
                    format!("must be from 1 to {MAX_LIFETIME_MINUTES} minutes"),
                ));
            }
            if !r
                .documented_lifetimes
                .iter()
                .any(|d| d.minutes == r.max_lifetime_minutes)
            {
                return Err(invalid(
                    at("max_lifetime_minutes"),
                    "must be one of the documented_lifetimes, with its source",
                ));
            }
            if r.permissions.is_empty() || r.permissions.values().any(Vec::is_empty) {
                return Err(invalid(
                    at("permissions"),
                    "must list at least one permission per auth variant",
                ));
            }
            if r.resource.keys().ne(r.permissions.keys()) {
                return Err(invalid(
                    at("resource"),
                    "must name the same auth variants as permissions",
                ));
            }
            if r.resource.is_empty() {
                return Err(invalid(
                    at("resource"),
                    "must give a template per auth variant",
                ));
            }
            for (variant, template) in &r.resource {
                for name in placeholders(template) {
                    if name != "user_id" && name != "folder_id" {
                        return Err(invalid(
                            at(&format!("resource/{variant}")),
                            format!(
                                "unknown placeholder {{{name}}}: only {{user_id}} and {{folder_id}}"
                            ),
                        ));
                    }
                }
            }
        }
        Ok(SubscriptionResources {
            resources: file.resources,
        })
    }

    /// The resource with this id.
    pub fn get(&self, id: &str) -> Option<&SubscriptionResource> {
        self.resources.iter().find(|r| r.id == id)
    }

    /// Every resource, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &SubscriptionResource> {
        self.resources.iter()
    }
}

/// The `{name}` placeholders of a template, in order.
fn placeholders(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                out.push(&after[..end]);
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    out
}

/// Whether a value may stand for a placeholder: Graph ids, well-known
/// folder names and user principal names use letters, digits and
/// `. _ - = + @`; nothing that could end a path segment or the quoted
/// folder id (`/ ' ? #`, spaces, `%`).
fn safe_value(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_VALUE_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-=+@".contains(&b))
}

impl SubscriptionResource {
    /// The permissions that let `variant` subscribe to it, least privileged
    /// first (empty for a variant it does not name).
    pub fn permissions_for(&self, variant: &str) -> &[String] {
        self.permissions
            .get(variant)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The maximum lifetime as a duration.
    pub fn max_lifetime(&self) -> Duration {
        Duration::from_secs(u64::from(self.max_lifetime_minutes) * 60)
    }

    /// The resource path for `variant` with its placeholders filled from
    /// `values` (`("user_id", ..)`, `("folder_id", ..)`). A missing value, an
    /// unknown variant or a value with characters that could change the
    /// path (`/ ' ? #`, spaces, `%`, more than 256 bytes) is an
    /// `InvalidArgument` error naming the field. Guests' user principal
    /// names hold `#`: pass their object id instead.
    pub fn resource_for(&self, variant: &str, values: &[(&str, &str)]) -> Result<String> {
        let template = self.resource.get(variant).ok_or_else(|| {
            Error::invalid_argument(
                "variant",
                format!(
                    "{} has no resource for variant {variant}; it has {}",
                    self.id,
                    self.resource.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
        let mut out = template.clone();
        for name in placeholders(template) {
            let value = values
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    Error::invalid_argument(name, format!("is needed to subscribe to {}", self.id))
                })?;
            if !safe_value(value) {
                return Err(Error::invalid_argument(
                    name,
                    "must be 1 to 256 letters, digits or . _ - = + @ (an object id for guests)",
                ));
            }
            out = out.replace(&format!("{{{name}}}"), value);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_file_parses_and_holds_the_five_resources() {
        let r = SubscriptionResources::embedded().unwrap();
        let ids: Vec<&str> = r.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["messages", "events", "contacts", "drive", "users"]);
        let minutes = |id: &str| r.get(id).unwrap().max_lifetime_minutes;
        assert_eq!(
            (minutes("messages"), minutes("drive"), minutes("users")),
            (10_080, 42_300, 41_760)
        );
        // the older, shorter Outlook value stays on record
        assert!(
            r.get("contacts")
                .unwrap()
                .documented_lifetimes
                .iter()
                .any(|d| d.minutes == 4230)
        );
    }

    #[test]
    fn values_that_could_move_the_path_are_refused() {
        let r = SubscriptionResources::embedded().unwrap();
        let messages = r.get("messages").unwrap();
        for bad in [
            "a/b",
            "inbox')/x",
            "a b",
            "x?y",
            "a#b",
            "%2F",
            "",
            &"a".repeat(257),
        ] {
            let err = messages
                .resource_for("delegated", &[("folder_id", bad)])
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad:?}");
        }
        let err = messages.resource_for("delegated", &[]).unwrap_err();
        assert!(err.to_string().contains("folder_id"), "{err}");
        let err = messages.resource_for("robot", &[]).unwrap_err();
        assert!(err.to_string().contains("delegated"), "{err}");
        assert_eq!(
            r.get("events")
                .unwrap()
                .resource_for("delegated", &[])
                .unwrap(),
            "me/events"
        );
    }

    #[test]
    fn a_broken_file_is_refused_with_the_field_named() {
        let good: serde_json::Value = serde_json::from_str(SUBSCRIPTION_RESOURCES_FILE.1).unwrap();
        let broken = |edit: &dyn Fn(&mut serde_json::Value)| {
            let mut v = good.clone();
            edit(&mut v);
            SubscriptionResources::parse(&v.to_string())
                .unwrap_err()
                .to_string()
        };
        assert!(
            broken(&|v| v["resources"][0]["max_lifetime_minutes"] = 999_999.into())
                .contains("/resources/0/max_lifetime_minutes")
        );
        assert!(
            broken(&|v| v["resources"][0]["max_lifetime_minutes"] = 4000.into())
                .contains("documented_lifetimes")
        );
        assert!(
            broken(&|v| v["resources"][1]["change_types"] = serde_json::json!(["moved"]))
                .contains("/resources/1/change_types")
        );
        assert!(
            broken(&|v| v["resources"][2]["id"] = "messages".into()).contains("/resources/2/id")
        );
        assert!(
            broken(&|v| v["resources"][3]["resource"]["delegated"] = "me/{drive}".into())
                .contains("{drive}")
        );
        assert!(
            broken(&|v| v["resources"][4]["permissions"]["application"] = serde_json::json!([]))
                .contains("/resources/4/permissions")
        );
        assert!(broken(&|v| v["extra"] = 1.into()).contains("unknown field"));
    }
}
