//! Paged results: a [`RecordStream`] of records that follows
//! `@odata.nextLink` (or, for `link_header` paging, the RFC 8288
//! `Link: <...>; rel="next"` response header, or a cursor or counter) one
//! page at a time, can be consumed page by page
//! ([`RecordStream::into_pages`]), and gives a serialisable [`Continuation`]
//! to resume later ([`Engine::resume`](crate::engine::Engine::resume)).
//!
//! Every page goes through the engine's whole pipeline (host allow-list,
//! token, redirects, retries). The method's headers (`ConsistencyLevel`,
//! `Prefer`...) are sent again with every page. Only one page is held in
//! memory at a time. A link seen twice is an error, not an endless loop, and
//! the number of pages is capped ([`DEFAULT_MAX_PAGES`],
//! [`RecordStream::with_max_pages`]).
//!
//! **Loops are detected on the request as sent.** A next link is resolved
//! against the page's URL and parsed, which lower-cases the scheme and
//! host, drops a default port and resolves `.` and `..` segments; its
//! `#fragment` is removed (a fragment is never sent). Two links that differ
//! only there are one request, so the second is a repeat. Path and query are
//! compared byte for byte: the service decides what they mean. Requested
//! links are remembered as 128-bit keyed SipHash digests (random keys per
//! walk), a few hundred instructions per page; two different links collide
//! with probability about n²/2¹²⁹, below 10⁻³⁰ for the page limit, and the
//! keys are secret, so a server cannot aim for a collision.
//!
//! **Cursor and counter paging** (`cursor`, `offset`, `page`; see
//! [`crate::definition::paging`]) make the next request from the page's
//! own URL with one query parameter replaced: the cursor read from the
//! body, or the offset / page number counted on. The result is a URL like
//! any next link, so the loop guard (a repeated cursor is a repeated
//! request), the page limit and continuations work unchanged.
//!
//! For delta methods (`odata_delta`) the stream ends with the
//! `@odata.deltaLink` as its continuation: store it and resume from it for
//! the next sync.
//!
//! **A continuation is a secret**: its link carries `$skiptoken` /
//! `$deltatoken` values that grant access to the data. Its Debug redacts the
//! link; store its serialised form encrypted.
//!
//! ```no_run
//! use futures::TryStreamExt;
//! use switchboard_core::engine::{Engine, InstallationContext};
//! use switchboard_core::Arguments;
//!
//! # async fn demo(engine: Engine, ctx: InstallationContext) -> switchboard_core::Result<()> {
//! let mut users = engine.stream(&ctx, "users.list_users", Arguments::new());
//! while let Some(user) = users.try_next().await? {
//!     println!("{}", user["displayName"]);
//! }
//! # Ok(()) }
//! ```

use std::collections::HashSet;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use crate::definition::paging::{CounterPaging, CursorPaging};
use crate::definition::{MethodDefinition, Pagination};
use crate::error::{Error, ErrorKind, Result};
use crate::installation_id::InstallationId;

pub(crate) mod query_paging;

use query_paging::Count;

/// The default cap on pages per stream: 10,000. That is ten million records
/// at Graph's largest page size, and hours of crawling at its default page
/// sizes; a listing longer than that is better taken in parts, resumed from
/// the continuation the limit error leaves. Change it with
/// `EngineBuilder::max_pages` or [`RecordStream::with_max_pages`].
pub const DEFAULT_MAX_PAGES: usize = 10_000;

/// A link that grants access to data (`$skiptoken`, `$deltatoken`). Debug
/// and Display never show it; serde does (to store it, encrypted).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretLink(String);

impl SecretLink {
    /// Wrap a link.
    pub fn new(link: impl Into<String>) -> Self {
        SecretLink(link.into())
    }

    /// The link itself. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretLink([redacted])")
    }
}

/// What a continuation resumes.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContinuationKind {
    /// The rest of a listing: the next page (or the page that was being
    /// read) and those after it.
    NextPage,
    /// The next round of a delta sync: changes since the last one.
    Delta,
}

/// Where to resume a paged listing or a delta sync. **Secret**: see the
/// module documentation. Serialise it with serde and store it encrypted.
///
/// ```
/// use switchboard_core::paging::{Continuation, ContinuationKind};
///
/// let json = r#"{"installation_id":"0d7e6a4b-1111-4222-8333-444455556666","method_id":"users.delta_users","kind":"delta",
///   "link":"https://graph.microsoft.com/v1.0/users/delta?$deltatoken=SECRET","headers":[]}"#;
/// let c: Continuation = serde_json::from_str(json).unwrap();
/// assert_eq!(c.kind(), ContinuationKind::Delta);
/// assert!(!format!("{c:?}").contains("SECRET"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Continuation {
    installation_id: InstallationId,
    method_id: String,
    kind: ContinuationKind,
    link: SecretLink,
    /// Request headers sent again with the link (`ConsistencyLevel`, `Prefer`).
    #[serde(default)]
    headers: Vec<(String, String)>,
}

impl Continuation {
    /// The installation the continuation belongs to.
    pub fn installation_id(&self) -> InstallationId {
        self.installation_id
    }

    /// The method it continues.
    pub fn method_id(&self) -> &str {
        &self.method_id
    }

    /// Next page or delta.
    pub fn kind(&self) -> ContinuationKind {
        self.kind
    }

    /// The link. Never log it.
    pub fn expose_link(&self) -> &str {
        self.link.expose()
    }

    /// The request headers sent again with the link.
    pub(crate) fn header_pairs(&self) -> &[(String, String)] {
        &self.headers
    }
}

impl fmt::Debug for Continuation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Continuation")
            .field("installation_id", &self.installation_id)
            .field("method_id", &self.method_id)
            .field("kind", &self.kind)
            .field("link", &self.link)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// What every continuation of one walk shares.
pub(crate) struct ResumeBase {
    installation_id: InstallationId,
    method_id: String,
    headers: Vec<(String, String)>,
}

/// A resume point, cheap to clone; turned into a [`Continuation`] only when
/// asked for.
#[derive(Clone)]
pub(crate) struct Resume {
    pub(crate) kind: ContinuationKind,
    link: Url,
    base: Arc<ResumeBase>,
}

impl Resume {
    pub(crate) fn continuation(&self) -> Continuation {
        Continuation {
            installation_id: self.base.installation_id,
            method_id: self.base.method_id.clone(),
            kind: self.kind,
            link: SecretLink::new(self.link.as_str()),
            headers: self.base.headers.clone(),
        }
    }
}

/// One page of records.
#[derive(Clone)]
pub struct Page {
    pub(crate) number: usize,
    pub(crate) records: Vec<Value>,
    pub(crate) resume: Option<Resume>,
}

impl Page {
    /// 1 for the first page of this stream.
    pub fn number(&self) -> usize {
        self.number
    }

    /// The records.
    pub fn records(&self) -> &[Value] {
        &self.records
    }

    /// The records, consumed.
    pub fn into_records(self) -> Vec<Value> {
        self.records
    }

    /// Where to resume after this page: the next page, the delta link (last
    /// page of a delta sync), or `None` when the listing is complete.
    /// **Secret.**
    pub fn continuation(&self) -> Option<Continuation> {
        self.resume.as_ref().map(Resume::continuation)
    }
}

impl fmt::Debug for Page {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Page")
            .field("number", &self.number)
            .field("records", &self.records.len())
            .field("continuation", &self.resume.as_ref().map(|r| r.kind))
            .finish()
    }
}

/// What the engine's loop does after a page: the paging strategy's answer.
pub(crate) enum Next {
    /// Fetch this link next (a GET with the walk's page headers).
    Fetch(Url),
    /// The listing is complete; the page's continuation is this delta
    /// link, which the engine checks against the host allow-list before
    /// handing it out.
    Delta(Url),
    /// The listing is complete.
    End,
    /// Yield the page, then end the walk with this error.
    Stop(Error),
}

/// The paging strategy of one walk: where a page's records are, which link
/// leads to the next request, whether that request was made before, and
/// how many pages were fetched. It reads pages and answers with [`Next`];
/// it never sends anything: the engine's loop does.
pub(crate) struct Pager {
    pagination: Pagination,
    /// The method's cursor rule, for `cursor` paging.
    cursor: Option<CursorPaging>,
    /// The method's counter rule, for `offset` and `page` paging.
    counter: Option<CounterPaging>,
    /// JSON pointer to a page's records.
    pointer: String,
    /// What this walk's continuations share.
    base: Arc<ResumeBase>,
    /// Every link requested so far.
    seen: Visited,
    fetched: usize,
    pub(crate) max_pages: usize,
}

impl Pager {
    /// The strategy for a walk of `method_id` whose first request goes to
    /// `first`; `headers` are sent again with every next link.
    pub(crate) fn new(
        pagination: Pagination,
        method: &MethodDefinition,
        installation_id: InstallationId,
        headers: Vec<(String, String)>,
        first: &Url,
        max_pages: usize,
    ) -> Self {
        let default_pointer = match pagination {
            Pagination::OdataNextLink | Pagination::OdataDelta => "/value",
            _ => "",
        };
        let mut seen = Visited::new();
        seen.insert(first);
        Pager {
            pagination,
            cursor: method.cursor.clone(),
            counter: method.counter.clone(),
            pointer: method
                .records
                .as_deref()
                .unwrap_or(default_pointer)
                .to_string(),
            base: Arc::new(ResumeBase {
                installation_id,
                method_id: method.id.clone(),
                headers,
            }),
            seen,
            fetched: 0,
            max_pages,
        }
    }

    /// A resume point at `link`.
    pub(crate) fn resume(&self, kind: ContinuationKind, link: &Url) -> Resume {
        Resume {
            kind,
            link: link.clone(),
            base: self.base.clone(),
        }
    }

    /// Count the page about to be fetched and return its number; at the
    /// page limit, an error naming `max_pages` instead.
    pub(crate) fn admit(&mut self) -> Result<usize> {
        if self.fetched >= self.max_pages {
            return Err(Error::invalid_argument(
                "max_pages",
                format!(
                    "the listing has more than {} pages, the stream's limit; raise the limit or resume later from the continuation",
                    self.max_pages
                ),
            ));
        }
        self.fetched += 1;
        Ok(self.fetched)
    }

    /// Split page `number`, fetched from `url`, into its records and what
    /// comes next. `link_next` is the `Link: rel="next"` target, used by
    /// `link_header` paging.
    pub(crate) fn take(
        &mut self,
        number: usize,
        url: &Url,
        mut body: Value,
        link_next: Option<String>,
    ) -> Result<(Page, Next)> {
        let method_id = &self.base.method_id;
        let (next_link, delta_link) = match self.pagination {
            Pagination::LinkHeader => (link_next, None),
            Pagination::OdataNextLink | Pagination::OdataDelta => (
                take_link(&mut body, "@odata.nextLink"),
                take_link(&mut body, "@odata.deltaLink"),
            ),
            _ => (None, None),
        };
        let records = select_records(&mut body, &self.pointer, method_id)?;
        let queried = self.query_next(url, &body, records.len());
        drop(body);
        let mut page = Page {
            number,
            records,
            resume: None,
        };
        if self.pagination == Pagination::None {
            return Ok((page, Next::End));
        }
        let next = if let Some(queried) = queried {
            match queried {
                Ok(Some(next)) if self.seen.insert(&next) => {
                    page.resume = Some(self.resume(ContinuationKind::NextPage, &next));
                    Next::Fetch(next)
                }
                Ok(Some(_)) => Next::Stop(Error::new(
                    ErrorKind::Remote,
                    format!(
                        "the service returned a {} cursor for `{method_id}` that leads to a page already requested; stopped to avoid an endless loop",
                        self.pagination.as_str()
                    ),
                )),
                Ok(None) => Next::End,
                Err(err) => Next::Stop(err),
            }
        } else if let Some(link) = next_link {
            match url.join(&link).map(as_sent) {
                Ok(next) if self.seen.insert(&next) => {
                    page.resume = Some(self.resume(ContinuationKind::NextPage, &next));
                    Next::Fetch(next)
                }
                Ok(_) => Next::Stop(Error::new(
                    ErrorKind::Remote,
                    format!(
                        "the service returned a next-page link for `{method_id}` that it had already returned; stopped to avoid an endless loop"
                    ),
                )),
                Err(_) => Next::Stop(Error::new(
                    ErrorKind::Decode,
                    format!(
                        "the service returned a next-page link for `{method_id}` that is not a valid URL"
                    ),
                )),
            }
        } else if self.pagination == Pagination::OdataDelta {
            match delta_link.map(|l| url.join(&l).map(as_sent)) {
                Some(Ok(delta)) => {
                    page.resume = Some(self.resume(ContinuationKind::Delta, &delta));
                    Next::Delta(delta)
                }
                Some(Err(_)) => Next::Stop(Error::new(
                    ErrorKind::Decode,
                    format!(
                        "the service returned a delta link for `{method_id}` that is not a valid URL"
                    ),
                )),
                None => Next::Stop(Error::new(
                    ErrorKind::Decode,
                    format!(
                        "the last page of delta method `{method_id}` carried no @odata.deltaLink, so the next sync cannot resume from it"
                    ),
                )),
            }
        } else {
            Next::End
        };
        Ok((page, next))
    }
}

impl Pager {
    /// For cursor and counter paging, the next request (`None` inside: the
    /// listing is complete); `None` for the kinds that follow links.
    fn query_next(&self, url: &Url, body: &Value, records: usize) -> Option<Result<Option<Url>>> {
        let method_id = &self.base.method_id;
        if self.pagination == Pagination::Cursor {
            return Some(match &self.cursor {
                Some(rule) => query_paging::cursor_next(rule, url, body, method_id),
                None => Err(no_rule(method_id, "cursor")),
            });
        }
        let count = Count::of(self.pagination)?;
        Some(match &self.counter {
            Some(rule) => query_paging::counter_next(count, rule, url, body, records, method_id),
            None => Err(no_rule(method_id, "counter")),
        })
    }
}

/// The first request of a walk of `method` whose arguments render to
/// `url`: for `offset` and `page` paging, with the counter at its start
/// value and the declared page size; otherwise `url` itself.
pub(crate) fn first_url(method: &MethodDefinition, url: Url) -> Url {
    match (Count::of(method.pagination), &method.counter) {
        (Some(count), Some(rule)) => query_paging::counter_first(count, rule, &url),
        _ => url,
    }
}

/// Refuse a resumed request of `method` that its pager could not continue
/// (a counted link whose count is not a number), before it is sent.
pub(crate) fn check_resumed(method: &MethodDefinition, url: &Url) -> Result<()> {
    match (Count::of(method.pagination), &method.counter) {
        (Some(count), Some(rule)) => query_paging::counter_value(count, rule, url).map(drop),
        _ => Ok(()),
    }
}

fn no_rule(method_id: &str, field: &str) -> Error {
    Error::new(
        ErrorKind::InvalidDefinition,
        format!("`{method_id}` is paged by {field} but declares no `{field}`"),
    )
}

/// A link as it goes on the wire: without its fragment (scheme and host
/// case, default port and dot segments were normalised when it was parsed).
pub(crate) fn as_sent(mut url: Url) -> Url {
    url.set_fragment(None);
    url
}

/// The requests a walk has made, as 128-bit keyed digests of their URLs.
struct Visited {
    keys: (RandomState, RandomState),
    seen: HashSet<u128>,
}

impl Visited {
    fn new() -> Self {
        Visited {
            keys: (RandomState::new(), RandomState::new()),
            seen: HashSet::new(),
        }
    }

    /// Record a request; `false` when the same request was made before.
    fn insert(&mut self, url: &Url) -> bool {
        let text = url.as_str();
        let digest =
            (u128::from(self.keys.0.hash_one(text)) << 64) | u128::from(self.keys.1.hash_one(text));
        self.seen.insert(digest)
    }
}

fn take_link(body: &mut Value, key: &str) -> Option<String> {
    match body.as_object_mut()?.remove(key)? {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// The records at `pointer` (a JSON pointer; empty: the whole body). An
/// array gives its elements, `null` nothing, anything else one record.
pub(crate) fn select_records(
    body: &mut Value,
    pointer: &str,
    method_id: &str,
) -> Result<Vec<Value>> {
    let target = if pointer.is_empty() {
        Some(body)
    } else {
        body.pointer_mut(pointer)
    };
    match target.map(Value::take) {
        Some(Value::Array(items)) => Ok(items),
        Some(Value::Null) => Ok(Vec::new()),
        Some(other) => Ok(vec![other]),
        None => Err(Error::new(
            ErrorKind::Decode,
            format!("the response to `{method_id}` has no records at `{pointer}`"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_by_pointer() {
        let mut body = json!({"value": [1, 2, 3], "@odata.context": "x"});
        assert_eq!(
            select_records(&mut body, "/value", "m").unwrap(),
            vec![json!(1), json!(2), json!(3)]
        );
        let mut body = json!({"id": "a"});
        assert_eq!(
            select_records(&mut body, "", "m").unwrap(),
            vec![json!({"id": "a"})]
        );
        let mut body = json!({"value": null});
        assert!(select_records(&mut body, "/value", "m").unwrap().is_empty());
        let mut body = json!({"other": []});
        let err = select_records(&mut body, "/value", "m").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
        assert!(err.to_string().contains("`/value`"));
    }

    #[test]
    fn repeats_are_found_on_the_request_as_sent() {
        let first = Url::parse("https://graph.microsoft.com/v1.0/users?$skiptoken=A").unwrap();
        let mut seen = Visited::new();
        assert!(seen.insert(&first));
        for same in [
            "https://graph.microsoft.com/v1.0/users?$skiptoken=A#page2",
            "HTTPS://Graph.Microsoft.COM:443/v1.0/users?$skiptoken=A",
            "https://graph.microsoft.com/v1.0/x/../users?$skiptoken=A#",
        ] {
            let url = as_sent(Url::parse(same).unwrap());
            assert!(!seen.insert(&url), "{same} is the request already made");
        }
        for other in [
            "https://graph.microsoft.com/v1.0/users?$skiptoken=B",
            "https://graph.microsoft.com/v1.0/users?$skiptoken=a",
            "https://graph.microsoft.com/v1.0/users?$skipToken=A",
            "https://graph.microsoft.com:8443/v1.0/users?$skiptoken=A",
            "https://graph.microsoft.com/v1.0/users?$skiptoken=%41",
        ] {
            let url = as_sent(Url::parse(other).unwrap());
            assert!(seen.insert(&url), "{other} is another request");
        }
    }

    #[test]
    fn continuation_round_trips_and_redacts() {
        let c = Continuation {
            installation_id: InstallationId::from(uuid::Uuid::nil()),
            method_id: "users.list_users".into(),
            kind: ContinuationKind::NextPage,
            link: SecretLink::new("https://graph.microsoft.com/v1.0/users?$skiptoken=SKIPSECRET"),
            headers: vec![("consistencylevel".into(), "eventual".into())],
        };
        let text = serde_json::to_string(&c).unwrap();
        assert!(text.contains("SKIPSECRET"));
        let back: Continuation = serde_json::from_str(&text).unwrap();
        assert_eq!(back, c);
        let debug = format!("{c:?}");
        assert!(!debug.contains("SKIPSECRET"), "{debug}");
        assert!(!debug.contains("eventual"), "{debug}");
    }
}
