//! One change-notification subscription as the sandbox keeps it: what it
//! watches (`Kind`, with the rules Graph documents for each), the record
//! saved in the state file, and one waiting for its endpoints' validation.
//! The handlers are in `crate::subscriptions`, the deliveries in
//! `crate::notifications`; this module imports neither.
//!
//! Limits (from `docs-current/concepts/includes/change-notifications-subscription-lifetime.md`,
//! 11/07/2024): messages, events and contacts 10,080 minutes; drives
//! 42,300; users 41,760.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::datetime;

/// What a subscription watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    Messages,
    Events,
    Contacts,
    Drive,
    Users,
}

/// What Graph documents per kind of resource.
pub(crate) struct Rules {
    /// Maximum lifetime in minutes.
    pub max_minutes: i64,
    /// The change types it reports.
    pub change_types: &'static [&'static str],
    /// The least permissions that let a caller subscribe, per variant.
    pub delegated: &'static [&'static str],
    pub application: &'static [&'static str],
    /// The lifecycle events Graph sends for it.
    pub lifecycle: &'static [&'static str],
}

const OUTLOOK_LIFECYCLE: &[&str] = &["reauthorizationRequired", "subscriptionRemoved", "missed"];
const ALL_CHANGES: &[&str] = &["created", "updated", "deleted"];

impl Kind {
    pub(crate) fn rules(self) -> Rules {
        match self {
            Kind::Messages => Rules {
                max_minutes: 10_080,
                change_types: ALL_CHANGES,
                delegated: &["Mail.ReadBasic"],
                application: &["Mail.ReadBasic.All", "Mail.Read"],
                lifecycle: OUTLOOK_LIFECYCLE,
            },
            Kind::Events => Rules {
                max_minutes: 10_080,
                change_types: ALL_CHANGES,
                delegated: &["Calendars.Read"],
                application: &["Calendars.Read"],
                lifecycle: OUTLOOK_LIFECYCLE,
            },
            Kind::Contacts => Rules {
                max_minutes: 10_080,
                change_types: ALL_CHANGES,
                delegated: &["Contacts.Read"],
                application: &["Contacts.Read"],
                lifecycle: OUTLOOK_LIFECYCLE,
            },
            Kind::Drive => Rules {
                max_minutes: 42_300,
                change_types: &["updated"],
                delegated: &["Files.ReadWrite.All"],
                application: &["Files.ReadWrite.All"],
                lifecycle: &["reauthorizationRequired"],
            },
            Kind::Users => Rules {
                max_minutes: 41_760,
                change_types: &["updated", "deleted"],
                delegated: &["User.Read.All"],
                application: &["User.Read.All"],
                lifecycle: &["reauthorizationRequired"],
            },
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Messages => "messages",
            Kind::Events => "events",
            Kind::Contacts => "contacts",
            Kind::Drive => "drive items",
            Kind::Users => "users",
        }
    }
}

/// One subscription, as the state file keeps it.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Subscription {
    pub id: String,
    /// The resource as the client sent it.
    pub resource: String,
    pub kind: Kind,
    /// The mailbox or drive owner (a user id); empty for `users`.
    pub owner: String,
    /// Narrower target: a mail folder id for messages, the drive id for a
    /// drive, a user id for `users/{id}`.
    pub target: Option<String>,
    pub change_types: Vec<String>,
    pub notification_url: String,
    pub lifecycle_notification_url: Option<String>,
    pub client_state: Option<String>,
    /// Unix seconds, sandbox clock.
    pub expiration: i64,
    pub application_id: String,
    pub creator_id: String,
    /// Created with a delegated token (for the user `creator_id`).
    pub delegated: bool,
    pub latest_supported_tls_version: String,
    /// A `reauthorizationRequired` event was sent and not yet answered:
    /// notifications pause until a renewal or `reauthorize`.
    #[serde(default)]
    pub needs_reauthorization: bool,
}

impl Subscription {
    /// Whether notifications flow for it at `now`.
    pub(crate) fn live(&self, now: i64) -> bool {
        self.expiration > now && !self.needs_reauthorization
    }

    /// Graph's JSON for it.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.application_id,
            "changeType": self.change_types.join(","),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_notification_url,
            "expirationDateTime": datetime::iso_z(self.expiration),
            "creatorId": self.creator_id,
            "latestSupportedTlsVersion": self.latest_supported_tls_version,
            "encryptionCertificate": "",
            "encryptionCertificateId": "",
            "includeResourceData": false,
        })
    }
}

/// A subscription waiting for its endpoints' validation.
pub(crate) struct Pending {
    pub(crate) sub: Subscription,
}
