//! The marker snapkeeper writes on every snapshot it creates.
//!
//! Owns the one text format and its exact parser. Must never: accept a string
//! that merely contains a marker (parsing is whole-string), or read the clock.
//!
//! Format: `snapkeeper:<account>:<policy>:<resource id>:<YYYYMMDDTHHMMSSZ>`,
//! for example `snapkeeper:do-main:six-hourly:3164444:20261123T060000Z`.
//!
//! # Provider limits the format was checked against
//!
//! References are into the providers' OpenAPI documents in `tests/specs/`.
//!
//! - DigitalOcean snapshot name (`digitalocean.yaml`:
//!   `components.schemas.droplet_action_snapshot.name`, the `name` property of
//!   `POST /v2/volumes/{volume_id}/snapshots`, `components.schemas.image_name`):
//!   free text, no length limit documented.
//! - DigitalOcean tags (`digitalocean.yaml`: `components.parameters.tag_id`,
//!   `components.schemas.tags.name`): pattern `^[a-zA-Z0-9_\-\:]+$`, at most 255
//!   characters. The whole marker only uses `[a-z0-9:TZ-]` and is at most
//!   [`MAX_LEN`] (157) characters, so it is a valid tag as it is.
//! - Vultr snapshot description (`vultr.json`: `POST /snapshots` and
//!   `PUT /snapshots/{snapshot-id}` request bodies, `components.schemas.snapshot`):
//!   free text, no length limit documented.
//! - Hetzner image description (`hetzner.json`:
//!   `components.schemas.create_image_from_server_request.description`): free
//!   text, no length limit documented.
//! - Hetzner label values (`hetzner.json`: `components.schemas.labels`,
//!   `additionalProperties.pattern`
//!   `^(()|[a-z0-9A-Z]|([a-z0-9A-Z][a-z0-9A-Z\._-]{0,61}[a-z0-9A-Z]))$`): at most
//!   63 characters, alphanumeric at both ends. Hence account and policy names
//!   ([`is_name`]) must end in a letter or digit, and resource ids are at most
//!   63 characters with alphanumeric ends.
//! - Hetzner label keys (Hetzner's "Labels" documentation, summarised in
//!   `shared/provider-apis.md` 4.7): optional DNS-subdomain prefix, `/`, then a
//!   name of at most 63 characters with the value's character rules. The
//!   `snapkeeper/...` keys below satisfy this.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike, Utc};

/// The fixed first field of every marker.
pub const PREFIX: &str = "snapkeeper";
const TIME_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// Longest account or policy name ([`is_name`]).
pub const MAX_NAME_LEN: usize = 32;
/// Longest resource id a marker can carry (Hetzner label values hold at most 63).
pub const MAX_RESOURCE_ID_LEN: usize = 63;
/// Longest possible marker text: prefix, two names, a resource id, the time and
/// four colons. Below DigitalOcean's 255-character tag limit.
pub const MAX_LEN: usize = PREFIX.len() + 2 * MAX_NAME_LEN + MAX_RESOURCE_ID_LEN + 16 + 4;

/// Label key (Hetzner) holding the account name.
pub const LABEL_ACCOUNT: &str = "snapkeeper/account";
/// Label key (Hetzner) holding the policy name.
pub const LABEL_POLICY: &str = "snapkeeper/policy";
/// Label key (Hetzner) holding the resource id.
pub const LABEL_RESOURCE: &str = "snapkeeper/resource";
/// Label key (Hetzner) holding the creation time (`YYYYMMDDTHHMMSSZ`).
pub const LABEL_CREATED: &str = "snapkeeper/created";

/// Why a marker cannot be written.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum MarkerError {
    /// Account or policy name outside `[a-z0-9]([a-z0-9-]*[a-z0-9])?`, 1–32 characters.
    #[error(
        "invalid {field} name {value:?} for a snapshot marker: use 1-32 of a-z, 0-9 and '-', starting and ending with a letter or digit"
    )]
    BadName {
        /// `account` or `policy`.
        field: &'static str,
        /// The name as given.
        value: String,
    },
    /// A resource id the marker cannot carry.
    #[error(
        "invalid resource id {0:?} for a snapshot marker: use 1-63 of A-Z, a-z, 0-9 and '-', starting and ending with a letter or digit"
    )]
    BadResourceId(String),
    /// A creation time outside years 0000–9999.
    #[error("creation time {0} is outside the years a snapshot marker can carry")]
    BadTime(DateTime<Utc>),
}

/// The identity of one retention group: the (account, policy, resource) a
/// marker belongs to. Retention never selects a snapshot of another group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey {
    /// Account name from the config.
    pub account: String,
    /// Policy name from the config.
    pub policy: String,
    /// Provider id of the resource.
    pub resource_id: String,
}

impl GroupKey {
    /// True when `marker` was written for exactly this group.
    pub fn owns(&self, marker: &Marker) -> bool {
        marker.account == self.account
            && marker.policy == self.policy
            && marker.resource_id == self.resource_id
    }
}

/// Who made a snapshot, for which policy and resource, and when (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Marker {
    /// Account name from the config.
    pub account: String,
    /// Policy name from the config.
    pub policy: String,
    /// Provider id of the resource the snapshot was taken of.
    pub resource_id: String,
    /// Creation time, UTC, whole seconds.
    pub created: DateTime<Utc>,
}

impl Marker {
    /// A checked marker; `created` is truncated to whole seconds, as the text
    /// form carries no fraction.
    ///
    /// # Errors
    /// [`MarkerError`] when a field cannot be written in every provider's
    /// name, description, tag and label (see the module docs).
    pub fn new(
        account: &str,
        policy: &str,
        resource_id: &str,
        created: DateTime<Utc>,
    ) -> Result<Marker, MarkerError> {
        let created = created.with_nanosecond(0).unwrap_or(created);
        let marker = Marker {
            account: account.to_string(),
            policy: policy.to_string(),
            resource_id: resource_id.to_string(),
            created,
        };
        marker.validate()?;
        Ok(marker)
    }

    /// Check that this marker encodes to text that [`Marker::parse`] reads back
    /// and that fits every provider's limits.
    ///
    /// # Errors
    /// The first field that does not fit, as a [`MarkerError`].
    pub fn validate(&self) -> Result<(), MarkerError> {
        if !is_name(&self.account) {
            return Err(MarkerError::BadName {
                field: "account",
                value: self.account.clone(),
            });
        }
        if !is_name(&self.policy) {
            return Err(MarkerError::BadName {
                field: "policy",
                value: self.policy.clone(),
            });
        }
        if !is_resource_id(&self.resource_id) {
            return Err(MarkerError::BadResourceId(self.resource_id.clone()));
        }
        if !(0..=9999).contains(&self.created.year()) || self.created.nanosecond() != 0 {
            return Err(MarkerError::BadTime(self.created));
        }
        Ok(())
    }

    /// The group this marker belongs to.
    pub fn group(&self) -> GroupKey {
        GroupKey {
            account: self.account.clone(),
            policy: self.policy.clone(),
            resource_id: self.resource_id.clone(),
        }
    }

    /// The marker as text, for a snapshot name or description.
    pub fn encode(&self) -> String {
        format!(
            "{PREFIX}:{}:{}:{}:{}",
            self.account,
            self.policy,
            self.resource_id,
            self.created.format(TIME_FORMAT)
        )
    }

    /// The marker as provider labels (Hetzner), for server-side filtering with
    /// `label_selector=snapkeeper/account=<account>`.
    pub fn labels(&self) -> BTreeMap<String, String> {
        [
            (LABEL_ACCOUNT, self.account.clone()),
            (LABEL_POLICY, self.policy.clone()),
            (LABEL_RESOURCE, self.resource_id.clone()),
            (LABEL_CREATED, self.created.format(TIME_FORMAT).to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Read a marker back from labels; `None` unless all four are present and
    /// valid. Callers that also have the description should require both to agree.
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Option<Marker> {
        let text = format!(
            "{PREFIX}:{}:{}:{}:{}",
            labels.get(LABEL_ACCOUNT)?,
            labels.get(LABEL_POLICY)?,
            labels.get(LABEL_RESOURCE)?,
            labels.get(LABEL_CREATED)?
        );
        Marker::parse(&text)
    }

    /// Hetzner: the marker only when the description and the labels both carry
    /// it and agree. A user who renames the description (or drops the labels)
    /// pins the snapshot: it is no longer ours.
    pub fn parse_with_labels(text: &str, labels: &BTreeMap<String, String>) -> Option<Marker> {
        let from_text = Marker::parse(text)?;
        let from_labels = Marker::from_labels(labels)?;
        (from_text == from_labels).then_some(from_text)
    }

    /// Parse a whole string as a marker; anything else is `None` (not ours).
    pub fn parse(text: &str) -> Option<Marker> {
        if text.len() > MAX_LEN {
            return None;
        }
        let mut parts = text.split(':');
        let (prefix, account, policy, resource_id, created) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if parts.next().is_some() || prefix != PREFIX {
            return None;
        }
        if !is_name(account) || !is_name(policy) || !is_resource_id(resource_id) {
            return None;
        }
        let created = NaiveDateTime::parse_from_str(created, TIME_FORMAT)
            .ok()?
            .and_utc();
        let marker = Marker {
            account: account.to_string(),
            policy: policy.to_string(),
            resource_id: resource_id.to_string(),
            created,
        };
        // Exactness: the text must be exactly what we would have written, and
        // what we could have written (no leap second, no fraction).
        marker.validate().ok()?;
        (marker.encode() == text).then_some(marker)
    }
}

/// True when `text` is, or could be taken for, a marker: it parses as one,
/// or it starts with the marker prefix in any case or after white space
/// (a provider may trim or case-fold a name). A manual snapshot may never
/// carry such a name, or retention would take it for managed and delete it.
pub fn looks_like_marker(text: &str) -> bool {
    let head = text.trim_start();
    Marker::parse(text).is_some()
        || head
            .get(..PREFIX.len() + 1)
            .is_some_and(|h| h.eq_ignore_ascii_case(&format!("{PREFIX}:")))
}

/// Account and policy names: `[a-z0-9]([a-z0-9-]*[a-z0-9])?`, at most 32
/// characters. The last character must be a letter or digit because Hetzner
/// label values must end in one.
pub fn is_name(s: &str) -> bool {
    let edge = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    s.len() <= MAX_NAME_LEN
        && s.starts_with(edge)
        && s.ends_with(edge)
        && s.chars().all(|c| edge(c) || c == '-')
}

/// Resource ids a marker can carry: 1–63 of `[A-Za-z0-9-]`, alphanumeric at
/// both ends (provider ids are integers or UUIDs).
pub fn is_resource_id(s: &str) -> bool {
    s.len() <= MAX_RESOURCE_ID_LEN
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_look_like_markers() {
        let cases = [
            ("snapkeeper:do-main:daily:101:20261130T060000Z", true),
            ("  snapkeeper:do-main:daily:101:20261130T060000Z", true),
            ("SnapKeeper:anything", true),
            ("snapkeeper:", true),
            ("snapkeeper-before-upgrade", false),
            ("before-upgrade", false),
            ("my snapkeeper:copy", false),
            ("", false),
        ];
        for (text, want) in cases {
            assert_eq!(looks_like_marker(text), want, "{text:?}");
        }
    }
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn sample() -> Marker {
        Marker::new(
            "do-main",
            "six-hourly",
            "3164444",
            at(2026, 11, 23, 6, 0, 0),
        )
        .unwrap()
    }

    /// DigitalOcean tag rule (`components.parameters.tag_id`).
    fn is_do_tag(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 255
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':'))
    }

    /// Hetzner label value rule (`components.schemas.labels`).
    fn is_hetzner_label_value(s: &str) -> bool {
        let inner = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        s.is_empty()
            || (s.len() <= 63
                && s.starts_with(|c: char| c.is_ascii_alphanumeric())
                && s.ends_with(|c: char| c.is_ascii_alphanumeric())
                && s.chars().all(inner))
    }

    /// Hetzner label key rule: optional DNS-subdomain prefix, `/`, name.
    fn is_hetzner_label_key(s: &str) -> bool {
        let (prefix, name) = s.rsplit_once('/').unwrap_or(("", s));
        let prefix_ok = prefix.is_empty()
            || (prefix.len() <= 253
                && prefix.split('.').all(|part| {
                    !part.is_empty()
                        && part.len() <= 63
                        && part
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                }));
        prefix_ok && !name.is_empty() && is_hetzner_label_value(name) && prefix != "hetzner.cloud"
    }

    #[test]
    fn encode_example() {
        assert_eq!(
            sample().encode(),
            "snapkeeper:do-main:six-hourly:3164444:20261123T060000Z"
        );
    }

    #[test]
    fn round_trips() {
        let m = sample();
        assert_eq!(Marker::parse(&m.encode()), Some(m.clone()));
        assert_eq!(Marker::from_labels(&m.labels()), Some(m.clone()));
        assert_eq!(Marker::parse_with_labels(&m.encode(), &m.labels()), Some(m));
    }

    #[test]
    fn new_truncates_fraction() {
        let t = at(2026, 11, 23, 6, 0, 0) + chrono::Duration::milliseconds(750);
        let m = Marker::new("a", "b", "c", t).unwrap();
        assert_eq!(m.created, at(2026, 11, 23, 6, 0, 0));
    }

    #[test]
    fn parse_rejects_cases() {
        let cases = [
            ("empty", ""),
            ("prefix only", "snapkeeper"),
            (
                "trailing text",
                "snapkeeper:do-main:six-hourly:3164444:20261123T060000Z (pinned)",
            ),
            (
                "leading text",
                "pinned snapkeeper:do-main:six-hourly:3164444:20261123T060000Z",
            ),
            (
                "leading space",
                " snapkeeper:do-main:six-hourly:3164444:20261123T060000Z",
            ),
            (
                "trailing newline",
                "snapkeeper:do-main:six-hourly:3164444:20261123T060000Z\n",
            ),
            (
                "sixth field",
                "snapkeeper:do-main:six-hourly:3164444:20261123T060000Z:x",
            ),
            (
                "four fields",
                "snapkeeper:do-main:six-hourly:20261123T060000Z",
            ),
            (
                "other prefix",
                "snapkeeperx:do-main:six-hourly:3164444:20261123T060000Z",
            ),
            (
                "upper prefix",
                "Snapkeeper:do-main:six-hourly:3164444:20261123T060000Z",
            ),
            (
                "upper account",
                "snapkeeper:DO-main:six-hourly:3164444:20261123T060000Z",
            ),
            (
                "account ends in dash",
                "snapkeeper:do-:six-hourly:3164444:20261123T060000Z",
            ),
            (
                "empty policy",
                "snapkeeper:do-main::3164444:20261123T060000Z",
            ),
            (
                "empty resource",
                "snapkeeper:do-main:six-hourly::20261123T060000Z",
            ),
            (
                "resource with dot",
                "snapkeeper:do-main:six-hourly:31.64:20261123T060000Z",
            ),
            (
                "time without Z",
                "snapkeeper:do-main:six-hourly:3164444:20261123T060000",
            ),
            (
                "lower-case z",
                "snapkeeper:do-main:six-hourly:3164444:20261123T060000z",
            ),
            (
                "time with offset",
                "snapkeeper:do-main:six-hourly:3164444:2026-11-23T06:00:00Z",
            ),
            (
                "bad month",
                "snapkeeper:do-main:six-hourly:3164444:20261323T060000Z",
            ),
            (
                "short year",
                "snapkeeper:do-main:six-hourly:3164444:261123T060000Z",
            ),
            (
                "leap second",
                "snapkeeper:do-main:six-hourly:3164444:20261123T235960Z",
            ),
            (
                "name too long",
                &format!("snapkeeper:{}:p:1:20261123T060000Z", "a".repeat(33)),
            ),
        ];
        for (what, text) in cases {
            assert_eq!(Marker::parse(text), None, "{what}: {text:?}");
        }
    }

    #[test]
    fn substring_is_not_a_marker() {
        let m = sample().encode();
        for text in [
            format!("my backup {m}"),
            format!("{m}-copy"),
            format!("{m} "),
            format!("copy of {m}"),
        ] {
            assert_eq!(Marker::parse(&text), None, "{text:?}");
        }
    }

    #[test]
    fn labels_must_agree_with_description() {
        let m = sample();
        let mut other = m.clone();
        other.policy = "daily".into();
        assert_eq!(
            Marker::parse_with_labels(&other.encode(), &m.labels()),
            None
        );
        assert_eq!(
            Marker::parse_with_labels("my pinned snapshot", &m.labels()),
            None
        );
        assert_eq!(
            Marker::parse_with_labels(&m.encode(), &BTreeMap::new()),
            None
        );
        let mut missing = m.labels();
        missing.remove(LABEL_CREATED);
        assert_eq!(Marker::from_labels(&missing), None);
    }

    #[test]
    fn new_rejects_cases() {
        let t = at(2026, 1, 1, 0, 0, 0);
        let long = "a".repeat(33);
        let long_id = "1".repeat(64);
        let cases: [(&str, &str, &str, DateTime<Utc>); 9] = [
            ("", "p", "1", t),
            ("A", "p", "1", t),
            ("a-", "p", "1", t),
            ("-a", "p", "1", t),
            (&long, "p", "1", t),
            ("a", "p:x", "1", t),
            ("a", "p", "", t),
            ("a", "p", &long_id, t),
            ("a", "p", "1", at(10000, 1, 1, 0, 0, 0)),
        ];
        for (a, p, r, c) in cases {
            assert!(Marker::new(a, p, r, c).is_err(), "{a:?} {p:?} {r:?} {c}");
        }
        assert_eq!(
            Marker::new("a", "p", "x_", t).err().map(|e| e.to_string()),
            Some(
                "invalid resource id \"x_\" for a snapshot marker: use 1-63 of A-Z, a-z, 0-9 and '-', starting and ending with a letter or digit"
                    .to_string()
            )
        );
    }

    #[test]
    fn longest_marker_fits_every_provider() {
        let name = "a".repeat(MAX_NAME_LEN);
        let id = "f".repeat(MAX_RESOURCE_ID_LEN);
        let m = Marker::new(&name, &name, &id, at(9999, 12, 31, 23, 59, 59)).unwrap();
        let text = m.encode();
        assert_eq!(text.len(), MAX_LEN);
        assert!(is_do_tag(&text), "{text}");
        assert_eq!(Marker::parse(&text), Some(m.clone()));
        for (k, v) in m.labels() {
            assert!(is_hetzner_label_key(&k), "{k}");
            assert!(is_hetzner_label_value(&v), "{k}={v}");
        }
    }

    #[test]
    fn uuid_resource_ids() {
        let m = Marker::new(
            "vultr",
            "nightly",
            "cb676a46-66fd-4dfb-b839-443f2e6c0b60",
            at(2026, 11, 23, 3, 0, 0),
        )
        .unwrap();
        assert_eq!(Marker::parse(&m.encode()), Some(m));
    }

    #[test]
    fn group_owns_only_its_markers() {
        let m = sample();
        let g = m.group();
        assert!(g.owns(&m));
        for change in 0..3 {
            let mut other = m.clone();
            match change {
                0 => other.account = "other".into(),
                1 => other.policy = "other".into(),
                _ => other.resource_id = "1".into(),
            }
            assert!(!g.owns(&other), "{other:?}");
        }
    }

    fn name() -> impl Strategy<Value = String> {
        "[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?"
    }

    proptest! {
        #[test]
        fn prop_round_trip(
            account in name(),
            policy in name(),
            id in "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
            secs in 0i64..253_402_300_799,
        ) {
            let created = DateTime::<Utc>::from_timestamp(secs, 0).unwrap();
            let m = Marker::new(&account, &policy, &id, created).unwrap();
            let text = m.encode();
            prop_assert!(text.len() <= MAX_LEN);
            prop_assert!(is_do_tag(&text));
            prop_assert_eq!(Marker::parse(&text), Some(m.clone()));
            prop_assert_eq!(Marker::from_labels(&m.labels()), Some(m.clone()));
            for (k, v) in m.labels() {
                prop_assert!(is_hetzner_label_key(&k));
                prop_assert!(is_hetzner_label_value(&v));
            }
        }

        #[test]
        fn prop_parse_is_exact(text in "\\PC{0,80}") {
            // Whatever parses must be exactly what we would write.
            if let Some(m) = Marker::parse(&text) {
                prop_assert_eq!(m.encode(), text);
            }
        }

        #[test]
        fn prop_mutated_marker_parses_only_if_exact(
            at in 0usize..54,
            with in proptest::char::any(),
        ) {
            let mut chars: Vec<char> = sample().encode().chars().collect();
            chars[at] = with;
            let text: String = chars.into_iter().collect();
            if let Some(m) = Marker::parse(&text) {
                prop_assert_eq!(m.encode(), text.clone());
                prop_assert!(m.validate().is_ok());
            }
        }

        #[test]
        fn prop_decorated_marker_is_not_ours(
            before in "\\PC{0,8}",
            after in "\\PC{0,8}",
        ) {
            prop_assume!(!before.is_empty() || !after.is_empty());
            let text = format!("{before}{}{after}", sample().encode());
            prop_assert_eq!(Marker::parse(&text), None);
        }
    }
}
