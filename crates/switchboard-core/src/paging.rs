//! Paged results: a [`RecordStream`] of records that follows
//! `@odata.nextLink` (or, for `link_header` paging, the RFC 8288
//! `Link: <...>; rel="next"` response header) one page at a time, can be consumed page by page
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
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::Instrument;
use url::Url;

use crate::definition::Pagination;
use crate::engine::{Engine, InstallationContext, Outgoing, Plan};
use crate::error::{Error, ErrorKind, Result};

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
/// let json = r#"{"installation_id":"inst-1","method_id":"users.delta_users","kind":"delta",
///   "link":"https://graph.microsoft.com/v1.0/users/delta?$deltatoken=SECRET","headers":[]}"#;
/// let c: Continuation = serde_json::from_str(json).unwrap();
/// assert_eq!(c.kind(), ContinuationKind::Delta);
/// assert!(!format!("{c:?}").contains("SECRET"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Continuation {
    installation_id: String,
    method_id: String,
    kind: ContinuationKind,
    link: SecretLink,
    /// Request headers sent again with the link (`ConsistencyLevel`, `Prefer`).
    #[serde(default)]
    headers: Vec<(String, String)>,
}

impl Continuation {
    /// The installation the continuation belongs to.
    pub fn installation_id(&self) -> &str {
        &self.installation_id
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

    /// The request to send to resume.
    pub(crate) fn to_outgoing(&self) -> Result<Outgoing> {
        let url = Url::parse(self.link.expose()).map(as_sent).map_err(|_| {
            Error::invalid_argument("continuation", "its link is not an absolute URL")
        })?;
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                Error::invalid_argument("continuation", "it holds an invalid header name")
            })?;
            let value = HeaderValue::from_str(value).map_err(|_| {
                Error::invalid_argument("continuation", "it holds an invalid header value")
            })?;
            headers.append(name, value);
        }
        Ok(Outgoing {
            method: Method::GET,
            url,
            headers,
            body: None,
            idempotent: true,
        })
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
struct ResumeBase {
    installation_id: String,
    method_id: String,
    headers: Vec<(String, String)>,
}

/// A resume point, cheap to clone; turned into a [`Continuation`] only when
/// asked for.
#[derive(Clone)]
struct Resume {
    kind: ContinuationKind,
    link: Url,
    base: Arc<ResumeBase>,
}

impl Resume {
    fn continuation(&self) -> Continuation {
        Continuation {
            installation_id: self.base.installation_id.clone(),
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
    number: usize,
    records: Vec<Value>,
    resume: Option<Resume>,
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

/// The state of a walk through pages, owned by the future fetching a page
/// and handed back after it.
pub(crate) struct Walk {
    engine: Engine,
    ctx: InstallationContext,
    plan: Arc<Plan>,
    span: tracing::Span,
    /// The request for the next page, if any.
    pending: Option<Outgoing>,
    /// The error to yield next (after the page that revealed it).
    deferred: Option<Error>,
    /// Headers resent with every next link.
    page_headers: HeaderMap,
    /// What this walk's continuations share.
    base: Arc<ResumeBase>,
    /// Every link requested so far.
    seen: Visited,
    fetched: usize,
    max_pages: usize,
    /// Whether the walk follows next links (and which kind).
    pagination: Pagination,
}

impl Walk {
    pub(crate) fn new(
        engine: Engine,
        ctx: InstallationContext,
        plan: Arc<Plan>,
        first: Outgoing,
        pagination: Pagination,
        span: tracing::Span,
    ) -> Self {
        let mut page_headers = first.headers.clone();
        page_headers.remove(http::header::CONTENT_TYPE);
        page_headers.remove(http::header::CONTENT_LENGTH);
        let mut seen = Visited::new();
        seen.insert(&first.url);
        let max_pages = engine.max_pages();
        let base = Arc::new(ResumeBase {
            installation_id: ctx.installation_id().to_string(),
            method_id: plan.method().id.clone(),
            headers: page_headers
                .iter()
                .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect(),
        });
        Walk {
            engine,
            ctx,
            plan,
            span,
            pending: Some(first),
            deferred: None,
            page_headers,
            base,
            seen,
            fetched: 0,
            max_pages,
            pagination,
        }
    }

    fn resume(&self, kind: ContinuationKind, link: &Url) -> Resume {
        Resume {
            kind,
            link: link.clone(),
            base: self.base.clone(),
        }
    }

    /// The resume point that would send the pending request (GET only).
    fn pending_resume(&self) -> Option<Resume> {
        let pending = self.pending.as_ref()?;
        (pending.method == Method::GET)
            .then(|| self.resume(ContinuationKind::NextPage, &pending.url))
    }

    async fn next_page(&mut self) -> Option<Result<Page>> {
        if let Some(err) = self.deferred.take() {
            self.pending = None;
            return Some(Err(err));
        }
        let outgoing = self.pending.take()?;
        if self.fetched >= self.max_pages {
            self.pending = Some(outgoing);
            let err = Error::invalid_argument(
                "max_pages",
                format!(
                    "the listing has more than {} pages, the stream's limit; raise the limit or resume later from the continuation",
                    self.max_pages
                ),
            );
            return Some(Err(err));
        }
        self.fetched += 1;
        let number = self.fetched;
        let page_span = tracing::debug_span!(parent: &self.span, "switchboard.page", page = number);
        let (body, link_next) = match self
            .engine
            .fetch_json(&self.ctx, &self.plan, &outgoing)
            .instrument(page_span)
            .await
        {
            Ok(fetched) => fetched,
            Err(err) => {
                self.pending = Some(outgoing);
                return Some(Err(err));
            }
        };
        Some(self.take_page(number, &outgoing.url, body, link_next))
    }

    /// Split a fetched page into records and the next request. `link_next`
    /// is the `Link: rel="next"` target, used by `link_header` paging.
    fn take_page(
        &mut self,
        number: usize,
        url: &Url,
        mut body: Value,
        link_next: Option<String>,
    ) -> Result<Page> {
        let method_id = &self.plan.method().id;
        let default_pointer = match self.pagination {
            Pagination::None | Pagination::LinkHeader => "",
            _ => "/value",
        };
        let pointer = self
            .plan
            .method()
            .records
            .as_deref()
            .unwrap_or(default_pointer);
        let (next_link, delta_link) = match self.pagination {
            Pagination::LinkHeader => (link_next, None),
            _ => (
                take_link(&mut body, "@odata.nextLink"),
                take_link(&mut body, "@odata.deltaLink"),
            ),
        };
        let records = select_records(&mut body, pointer, method_id)?;
        drop(body);

        let mut continuation = None;
        if self.pagination != Pagination::None {
            if let Some(link) = next_link {
                match url.join(&link).map(as_sent) {
                    Ok(next) if self.seen.insert(&next) => {
                        continuation = Some(self.resume(ContinuationKind::NextPage, &next));
                        self.pending = Some(Outgoing {
                            method: Method::GET,
                            url: next,
                            headers: self.page_headers.clone(),
                            body: None,
                            idempotent: true,
                        });
                    }
                    Ok(_) => {
                        self.deferred = Some(Error::new(
                            ErrorKind::Remote,
                            format!(
                                "the service returned a next-page link for `{method_id}` that it had already returned; stopped to avoid an endless loop"
                            ),
                        ));
                    }
                    Err(_) => {
                        self.deferred = Some(Error::new(
                            ErrorKind::Decode,
                            format!(
                                "the service returned a next-page link for `{method_id}` that is not a valid URL"
                            ),
                        ));
                    }
                }
            } else if self.pagination == Pagination::OdataDelta {
                match delta_link.map(|l| url.join(&l).map(as_sent)) {
                    Some(Ok(delta)) => match self.ctx.hosts().check_credentialed(&delta) {
                        Ok(()) => continuation = Some(self.resume(ContinuationKind::Delta, &delta)),
                        Err(err) => self.deferred = Some(err),
                    },
                    Some(Err(_)) => {
                        self.deferred = Some(Error::new(
                            ErrorKind::Decode,
                            format!(
                                "the service returned a delta link for `{method_id}` that is not a valid URL"
                            ),
                        ));
                    }
                    None => {
                        self.deferred = Some(Error::new(
                            ErrorKind::Decode,
                            format!(
                                "the last page of delta method `{method_id}` carried no @odata.deltaLink, so the next sync cannot resume from it"
                            ),
                        ));
                    }
                }
            }
        }
        Ok(Page {
            number,
            records,
            resume: continuation,
        })
    }
}

/// A link as it goes on the wire: without its fragment (scheme and host
/// case, default port and dot segments were normalised when it was parsed).
fn as_sent(mut url: Url) -> Url {
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

type PageFuture = Pin<Box<dyn Future<Output = (Option<Result<Page>>, Walk)> + Send>>;

/// A stream of pages. Each item is one page or the error that ended the walk.
pub struct PageStream {
    walk: Option<Walk>,
    fetching: Option<PageFuture>,
    /// A partial page handed over by [`RecordStream::into_pages`].
    leftover: Option<Page>,
    /// Where to resume: before the first page, the first request; after a
    /// page, that page's continuation; after an error, the failed request.
    resume: Option<Resume>,
    failed: Option<Error>,
    done: bool,
}

impl PageStream {
    pub(crate) fn new(walk: Walk) -> Self {
        let resume = walk.pending_resume();
        PageStream {
            walk: Some(walk),
            fetching: None,
            leftover: None,
            resume,
            failed: None,
            done: false,
        }
    }

    pub(crate) fn failed(error: Error) -> Self {
        PageStream {
            walk: None,
            fetching: None,
            leftover: None,
            resume: None,
            failed: Some(error),
            done: false,
        }
    }

    /// Cap the number of pages fetched (default [`DEFAULT_MAX_PAGES`] or the
    /// engine's setting). Reaching it ends the stream with an
    /// [`ErrorKind::InvalidArgument`] error naming `max_pages`; the
    /// continuation then resumes at the first page not fetched.
    pub fn with_max_pages(mut self, max_pages: usize) -> Self {
        if let Some(walk) = self.walk.as_mut() {
            walk.max_pages = max_pages;
        }
        self
    }

    /// Where to resume after the pages yielded so far (`None` when the
    /// listing is complete). **Secret.**
    pub fn continuation(&self) -> Option<Continuation> {
        self.resume.as_ref().map(Resume::continuation)
    }
}

impl Stream for PageStream {
    type Item = Result<Page>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(page) = this.leftover.take() {
            return Poll::Ready(Some(Ok(page)));
        }
        if let Some(err) = this.failed.take() {
            this.done = true;
            return Poll::Ready(Some(Err(err)));
        }
        if this.done {
            return Poll::Ready(None);
        }
        if this.fetching.is_none() {
            let Some(mut walk) = this.walk.take() else {
                this.done = true;
                return Poll::Ready(None);
            };
            this.fetching = Some(Box::pin(async move {
                let item = walk.next_page().await;
                (item, walk)
            }));
        }
        let Some(fetching) = this.fetching.as_mut() else {
            return Poll::Ready(None);
        };
        match fetching.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready((item, walk)) => {
                this.fetching = None;
                match &item {
                    Some(Ok(page)) => {
                        this.resume = page.resume.clone();
                        this.walk = Some(walk);
                    }
                    Some(Err(_)) => {
                        this.resume = walk.pending_resume();
                        this.done = true;
                    }
                    None => {
                        this.done = true;
                    }
                }
                Poll::Ready(item)
            }
        }
    }
}

impl fmt::Debug for PageStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PageStream")
            .field("fetching", &self.fetching.is_some())
            .field("done", &self.done)
            .field("resume", &self.resume.as_ref().map(|r| r.kind))
            .finish()
    }
}

/// A stream of records across pages (`Stream<Item = Result<Value>>`).
///
/// Records of one page are held at a time. The stream ends after the first
/// error. [`continuation`](RecordStream::continuation) says where to resume:
/// when the current page was only partly consumed it re-reads that page, so
/// a resumed stream may repeat records (at-least-once).
pub struct RecordStream {
    pages: PageStream,
    buffer: std::vec::IntoIter<Value>,
    /// The resume point that re-reads the page in `buffer`.
    current: Option<Resume>,
    /// The resume point before the page being fetched.
    before: Option<Option<Resume>>,
    number: usize,
}

impl RecordStream {
    pub(crate) fn new(pages: PageStream) -> Self {
        RecordStream {
            pages,
            buffer: Vec::new().into_iter(),
            current: None,
            before: None,
            number: 0,
        }
    }

    /// Cap the number of pages fetched; see [`PageStream::with_max_pages`].
    pub fn with_max_pages(mut self, max_pages: usize) -> Self {
        self.pages = self.pages.with_max_pages(max_pages);
        self
    }

    /// Consume the rest page by page. Records already read from a partly
    /// consumed page come first as a partial page.
    pub fn into_pages(self) -> PageStream {
        let mut pages = self.pages;
        let rest: Vec<Value> = self.buffer.collect();
        if !rest.is_empty() {
            pages.leftover = Some(Page {
                number: self.number,
                records: rest,
                resume: pages.resume.clone(),
            });
        }
        pages
    }

    /// Where to resume after the records yielded so far (`None` when the
    /// listing is complete). **Secret.**
    pub fn continuation(&self) -> Option<Continuation> {
        if self.buffer.len() > 0 {
            self.current.as_ref().map(Resume::continuation)
        } else {
            self.pages.continuation()
        }
    }
}

impl Stream for RecordStream {
    type Item = Result<Value>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(record) = this.buffer.next() {
                return Poll::Ready(Some(Ok(record)));
            }
            if this.before.is_none() {
                this.before = Some(this.pages.resume.clone());
            }
            match Pin::new(&mut this.pages).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Err(err))) => return Poll::Ready(Some(Err(err))),
                Poll::Ready(Some(Ok(page))) => {
                    this.current = this.before.take().flatten();
                    this.number = page.number;
                    this.buffer = page.records.into_iter();
                }
            }
        }
    }
}

impl fmt::Debug for RecordStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordStream")
            .field("buffered", &self.buffer.len())
            .field("pages", &self.pages)
            .finish()
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
            installation_id: "i".into(),
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
        let out = c.to_outgoing().unwrap();
        assert_eq!(out.headers.get("consistencylevel").unwrap(), "eventual");
        assert_eq!(out.method, Method::GET);
    }

    #[test]
    fn bad_continuations_are_refused() {
        let c: Continuation = serde_json::from_value(json!({
            "installation_id": "i", "method_id": "m", "kind": "next_page", "link": "not a url"
        }))
        .unwrap();
        assert_eq!(c.to_outgoing().unwrap_err().field(), Some("continuation"));
        let c: Continuation = serde_json::from_value(json!({
            "installation_id": "i", "method_id": "m", "kind": "next_page",
            "link": "https://graph.microsoft.com/", "headers": [["bad name", "v"]]
        }))
        .unwrap();
        assert_eq!(c.to_outgoing().unwrap_err().field(), Some("continuation"));
    }
}
