//! The seeded tenant: a deterministic organisation generated from a seed.
//!
//! Twelve users (one of them a guest) with managers, direct reports, group
//! memberships and photos; for each user a mailbox (Inbox with a child
//! folder, Drafts, Sent Items, Deleted Items, Archive) with messages and
//! attachments, calendars in two calendar groups with single and recurring
//! events, and a OneDrive with folders and files. Dates are placed around
//! the day the sandbox starts, so "the next seven days" always has events.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::datetime::{self, DAY};
use crate::generated::{DOMAIN, Rng, png_square};
use crate::state::{Rec, Tenant};
use crate::{calendars, contacts, drive, mail, users};

const FIRST: &[&str] = &[
    "Avery", "Jordan", "Priya", "Mateo", "Ingrid", "Kwame", "Sofia", "Hiroshi", "Leila", "Tomasz",
    "Amara", "Declan", "Yuki", "Rafael", "Nadia", "Oskar", "Zara", "Emeka", "Chloe", "Anders",
];
const LAST: &[&str] = &[
    "Fischer",
    "Okafor",
    "Nakamura",
    "Lindqvist",
    "Moreau",
    "Castillo",
    "Haddad",
    "Kowalski",
    "Brennan",
    "Osei",
    "Varga",
    "Duarte",
    "Novak",
    "Sato",
    "Iverson",
    "Mensah",
    "Quinn",
    "Ruiz",
];
const ROLES: &[(&str, &str)] = &[
    ("Chief Executive Officer", "Executive"),
    ("VP of Engineering", "Engineering"),
    ("VP of Sales", "Sales"),
    ("VP of Operations", "Operations"),
    ("Software Engineer", "Engineering"),
    ("Site Reliability Engineer", "Engineering"),
    ("Account Executive", "Sales"),
    ("Sales Engineer", "Sales"),
    ("Operations Analyst", "Operations"),
    ("Product Designer", "Engineering"),
    ("Office Manager", "Operations"),
    ("Partner Consultant", "Sales"),
];
const OFFICES: &[&str] = &[
    "Building 1/1001",
    "Building 2/2140",
    "Remote",
    "Building 1/1120",
];

/// The number of seeded users; the last one is a guest.
pub(crate) const USER_COUNT: usize = 12;

/// Builds the tenant for `seed`, with dates around `now`.
pub(crate) fn build_tenant(seed: u64, now: i64) -> Tenant {
    let mut rng = Rng::new(seed);
    let tenant_id = rng.guid();
    let mut t = Tenant {
        tenant_id,
        domain: DOMAIN.to_string(),
        clock: 0,
        rng: Rng::new(seed.wrapping_mul(31).wrapping_add(7)),
        users: Vec::new(),
        groups: Vec::new(),
        memberships: Vec::new(),
        managers: HashMap::new(),
        photos: HashMap::new(),
        mailbox_settings: HashMap::new(),
        well_known_folders: HashMap::new(),
        mail_folders: Vec::new(),
        messages: Vec::new(),
        attachments: Vec::new(),
        calendar_groups: Vec::new(),
        calendars: Vec::new(),
        events: Vec::new(),
        cancelled_occurrences: HashMap::new(),
        drives: Vec::new(),
        items: Vec::new(),
        contents: HashMap::new(),
        permissions: Vec::new(),
        tombstones: Vec::new(),
        contact_folders: Vec::new(),
        contacts: Vec::new(),
    };
    let today = now.div_euclid(DAY);
    seed_users(&mut t, &mut rng, today);
    let ids: Vec<String> = t.users.iter().map(|u| u.id().to_string()).collect();
    for (i, id) in ids.iter().enumerate() {
        mail::seed_mailbox(&mut t, &mut rng, id, i, now);
        calendars::seed_calendars(&mut t, &mut rng, id, i, today);
        drive::seed_drive(&mut t, &mut rng, id, i, now);
    }
    // Contacts draw from their own stream: adding them changed no other id.
    let mut contact_rng = Rng::new(seed ^ 0xC047_AC75);
    for (i, id) in ids.iter().enumerate() {
        contacts::seed_contacts(&mut t, &mut contact_rng, id, i, now);
    }
    // Everything seeded shares version 1: a first delta round returns all of it.
    t.clock = 1;
    t
}

/// Adds `count` users after the seeded ones, each with a mailbox seeded
/// like theirs and nothing else ([`crate::SandboxConfig::extra_users`]).
/// They draw from their own random stream: the seeded data stays the same.
pub(crate) fn add_mailbox_users(t: &mut Tenant, seed: u64, count: usize, now: i64) {
    let mut rng = Rng::new(seed ^ 0x0E87_A05E_8500_0001);
    let created = (now.div_euclid(DAY) - 30) * DAY + 9 * 3600;
    for n in 1..=count {
        let id = rng.guid();
        let surname = format!("{n:04}");
        let upn = format!("mailbox{surname}@{DOMAIN}");
        let data = users::user_json(users::UserSpec {
            id: &id,
            given: "Mailbox",
            surname: &surname,
            upn: &upn,
            mail: &upn,
            job_title: "Load test mailbox",
            department: "Operations",
            office: OFFICES[0],
            phone: "+1 425 555 0100",
            guest: false,
            created,
        });
        t.users.push(Rec {
            owner: String::new(),
            parent: String::new(),
            data,
            version: 1,
        });
        t.mailbox_settings
            .insert(id.clone(), mail::default_mailbox_settings());
        let index = t.users.len() - 1;
        mail::seed_mailbox(t, &mut rng, &id, index, now);
    }
}

fn seed_users(t: &mut Tenant, rng: &mut Rng, today: i64) {
    let mut firsts: Vec<&str> = FIRST.to_vec();
    let mut lasts: Vec<&str> = LAST.to_vec();
    for i in (1..firsts.len()).rev() {
        firsts.swap(i, rng.below(i as u64 + 1) as usize);
    }
    for i in (1..lasts.len()).rev() {
        lasts.swap(i, rng.below(i as u64 + 1) as usize);
    }
    for i in 0..USER_COUNT {
        let (given, surname) = (firsts[i], lasts[i]);
        let id = rng.guid();
        let guest = i == USER_COUNT - 1;
        let nick = format!("{}.{}", given.to_lowercase(), surname.to_lowercase());
        let (upn, mail) = if guest {
            (
                format!("{nick}_fabrikam.example#EXT#@{DOMAIN}"),
                format!("{nick}@fabrikam.example"),
            )
        } else {
            (format!("{nick}@{DOMAIN}"), format!("{nick}@{DOMAIN}"))
        };
        let (job, dept) = ROLES[i];
        let created = (today - 400 + i as i64 * 17) * DAY + 9 * 3600;
        let office: &str = OFFICES[rng.below(OFFICES.len() as u64) as usize];
        let data = users::user_json(users::UserSpec {
            id: &id,
            given,
            surname,
            upn: &upn,
            mail: &mail,
            job_title: job,
            department: dept,
            office,
            phone: &format!("+1 425 555 01{:02}", rng.below(100)),
            guest,
            created,
        });
        t.users.push(Rec {
            owner: String::new(),
            parent: String::new(),
            data,
            version: 1,
        });
        if i != USER_COUNT - 2 {
            t.photos.insert(
                id.clone(),
                png_square(
                    48,
                    [
                        rng.below(200) as u8 + 30,
                        rng.below(200) as u8 + 30,
                        rng.below(200) as u8 + 30,
                    ],
                ),
            );
        }
        t.mailbox_settings
            .insert(id.clone(), mail::default_mailbox_settings());
    }
    // Managers: the CEO manages the three VPs; each VP manages their department.
    let ids: Vec<String> = t.users.iter().map(|u| u.id().to_string()).collect();
    for i in 1..USER_COUNT {
        let manager = if i <= 3 {
            0
        } else {
            match ROLES[i].1 {
                "Engineering" => 1,
                "Sales" => 2,
                _ => 3,
            }
        };
        if i != USER_COUNT - 1 {
            t.managers.insert(ids[i].clone(), ids[manager].clone());
        }
    }
    // Groups.
    let groups = [
        ("All Company", "Everyone in the organisation", true, ""),
        ("Engineering", "Engineering team", true, "Engineering"),
        ("Sales", "Sales team", true, "Sales"),
        (
            "Leadership",
            "Security group for the leadership team",
            false,
            "*lead",
        ),
    ];
    for (name, description, unified, dept) in groups {
        let gid = rng.guid();
        let nick: String = name.to_lowercase().replace(' ', "");
        let data = json!({
            "id": gid,
            "deletedDateTime": null,
            "classification": null,
            "createdDateTime": datetime::iso_z((today - 500) * DAY),
            "description": description,
            "displayName": name,
            "groupTypes": if unified { json!(["Unified"]) } else { json!([]) },
            "mail": if unified { json!(format!("{nick}@{DOMAIN}")) } else { Value::Null },
            "mailEnabled": unified,
            "mailNickname": nick,
            "securityEnabled": !unified,
            "visibility": if unified { json!("Public") } else { Value::Null },
        });
        if let Value::Object(data) = data {
            t.groups.push(Rec {
                owner: String::new(),
                parent: String::new(),
                data,
                version: 1,
            });
        }
        for (i, uid) in ids.iter().enumerate() {
            let member = match dept {
                "" => i != USER_COUNT - 1,
                "*lead" => i <= 3,
                d => ROLES[i].1 == d,
            };
            if member {
                t.memberships.push((uid.clone(), gid.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_tenant() {
        let a = build_tenant(7, 1_700_000_000);
        let b = build_tenant(7, 1_700_000_000);
        let c = build_tenant(8, 1_700_000_000);
        assert_eq!(a.tenant_id, b.tenant_id);
        assert_ne!(a.tenant_id, c.tenant_id);
        let names = |t: &Tenant| {
            t.users
                .iter()
                .map(|u| u.str("displayName").to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&a), names(&b));
        assert_eq!(a.users.len(), USER_COUNT);
        assert!(a.messages.len() > 100 && a.events.len() > 50 && a.items.len() > 50);
    }

    #[test]
    fn extra_users_get_mailboxes_and_change_nothing_seeded() {
        let plain = build_tenant(7, 1_700_000_000);
        let mut more = build_tenant(7, 1_700_000_000);
        add_mailbox_users(&mut more, 7, 3, 1_700_000_000);
        assert_eq!(more.users.len(), USER_COUNT + 3);
        let ids = |t: &Tenant| {
            t.users
                .iter()
                .map(|u| u.id().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&more)[..USER_COUNT], ids(&plain)[..]);
        let seeded = |t: &Tenant| {
            t.messages
                .iter()
                .filter(|m| ids(&plain).contains(&m.owner))
                .map(|m| m.data.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(seeded(&more), seeded(&plain));
        let added = more.users[USER_COUNT + 2].clone();
        assert_eq!(
            added.str("userPrincipalName"),
            format!("mailbox0003@{DOMAIN}")
        );
        assert!(more.messages.iter().any(|m| m.owner == added.id()));
        assert!(more.mailbox_settings.contains_key(added.id()));
    }
}
