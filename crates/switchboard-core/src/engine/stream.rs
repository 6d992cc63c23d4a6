use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::Value;
use tracing::Instrument;
use url::Url;

use crate::arguments::Arguments;
use crate::definition::Pagination;
use crate::definition::reserved_headers::is_reserved;
use crate::error::{Error, Result};
use crate::paging::{
    Continuation, ContinuationKind, Next, Page, Pager, Resume, as_sent, check_resumed,
};
use crate::untrusted_text::sanitize_identifier;

use super::Engine;
use super::context::InstallationContext;
use super::pipeline::{decode_json, read_body};
use super::plan::{Outgoing, Plan};

impl Engine {
    /// Stream the records of a method across its pages. Errors (bad
    /// arguments included) arrive as the stream's first item. See
    /// [`RecordStream`].
    pub fn stream(
        &self,
        ctx: &InstallationContext,
        method_id: &str,
        args: Arguments,
    ) -> RecordStream {
        let span = self.call_span(ctx, method_id);
        let walk = span.in_scope(|| {
            let plan = self.plan(ctx, method_id)?;
            let outgoing = self.prepare(ctx, &plan, &args)?;
            let pagination = plan.method().pagination;
            Ok::<_, Error>(Walk::new(
                self.clone(),
                ctx.clone(),
                Arc::new(plan),
                outgoing,
                pagination,
                span.clone(),
            ))
        });
        RecordStream::new(match walk {
            Ok(walk) => PageStream::new(walk),
            Err(err) => PageStream::failed(err),
        })
    }

    /// Continue a listing or a delta sync from a [`Continuation`]. The
    /// continuation must belong to this installation; its link passes the
    /// host allow-list before anything is sent.
    pub fn resume(&self, ctx: &InstallationContext, continuation: &Continuation) -> RecordStream {
        let span = self.call_span(ctx, continuation.method_id());
        let walk = span.in_scope(|| {
            if continuation.installation_id() != ctx.installation_id() {
                return Err(Error::invalid_argument(
                    "continuation",
                    "it belongs to another installation; resume it with the installation that started the listing",
                ));
            }
            let plan = self.plan(ctx, continuation.method_id())?;
            let pagination = match continuation.kind() {
                ContinuationKind::Delta => Pagination::OdataDelta,
                _ => match plan.method().pagination {
                    Pagination::None => Pagination::OdataNextLink,
                    other => other,
                },
            };
            let mut outgoing = continuation_request(continuation)?;
            check_resumed(plan.method(), &outgoing.url)?;
            // a continuation keeps no arguments: a resumed walk is governed
            // as the installation's own resource
            outgoing.keys = super::govern::keys_of(
                plan.definition(),
                plan.limits(),
                ctx,
                &crate::Arguments::new(),
            );
            Ok(Walk::new(
                self.clone(),
                ctx.clone(),
                Arc::new(plan),
                outgoing,
                pagination,
                span.clone(),
            ))
        });
        RecordStream::new(match walk {
            Ok(walk) => PageStream::new(walk),
            Err(err) => PageStream::failed(err),
        })
    }

    /// Execute and decode a JSON page. Also returns the target of the
    /// response's `Link: <...>; rel="next"` header, if any (untrusted: the
    /// pager resolves it and the host allow-list checks it before use).
    pub(crate) async fn fetch_json(
        &self,
        ctx: &InstallationContext,
        plan: &Plan,
        outgoing: &Outgoing,
    ) -> Result<(Value, Option<String>)> {
        let mut received = self.execute(ctx, plan, outgoing).await?;
        let next = match plan.method().pagination {
            Pagination::LinkHeader => crate::headers::link::next_link(received.response.headers()),
            _ => None,
        };
        let bytes = read_body(&mut received, &plan.method().id, self.response_cap(plan)).await?;
        drop(received);
        if bytes.is_empty() {
            return Ok((Value::Null, next));
        }
        Ok((decode_json(&bytes, &plan.method().id)?, next))
    }
}

/// The state of a walk through pages, owned by the future fetching a page
/// and handed back after it. The engine's loop: send the pending request
/// through the pipeline, hand the page to the [`Pager`], do what it answers.
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
    /// The paging strategy.
    pager: Pager,
    /// The limit keys of the walk's requests.
    keys: Option<super::limit_key::CallKeys>,
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
        let header_pairs = page_headers
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let pager = Pager::new(
            pagination,
            plan.method(),
            ctx.installation_id(),
            header_pairs,
            &first.url,
            engine.max_pages(),
        );
        let keys = first.keys.clone();
        Walk {
            keys,
            engine,
            ctx,
            plan,
            span,
            pending: Some(first),
            deferred: None,
            page_headers,
            pager,
        }
    }

    /// The resume point that would send the pending request (GET only).
    fn pending_resume(&self) -> Option<Resume> {
        let pending = self.pending.as_ref()?;
        (pending.method == Method::GET)
            .then(|| self.pager.resume(ContinuationKind::NextPage, &pending.url))
    }

    async fn next_page(&mut self) -> Option<Result<Page>> {
        if let Some(err) = self.deferred.take() {
            self.pending = None;
            return Some(Err(err));
        }
        let outgoing = self.pending.take()?;
        let number = match self.pager.admit() {
            Ok(number) => number,
            Err(err) => {
                self.pending = Some(outgoing);
                return Some(Err(err));
            }
        };
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

    /// Let the pager split the page, then do what it says comes next.
    fn take_page(
        &mut self,
        number: usize,
        url: &Url,
        body: Value,
        link_next: Option<String>,
    ) -> Result<Page> {
        let (mut page, next) = self.pager.take(number, url, body, link_next)?;
        match next {
            Next::Fetch(url) => {
                self.pending = Some(Outgoing {
                    method: Method::GET,
                    url,
                    headers: self.page_headers.clone(),
                    body: None,
                    idempotent: true,
                    resumable: false,
                    credentialed: true,
                    keys: self.keys.clone(),
                    batch: false,
                });
            }
            Next::Delta(link) => {
                if let Err(err) = self.ctx.hosts().check_credentialed(&link) {
                    page.resume = None;
                    self.deferred = Some(err);
                }
            }
            Next::End => {}
            Next::Stop(err) => self.deferred = Some(err),
        }
        Ok(page)
    }
}

/// The request that resumes `continuation`: a GET of its link with its
/// headers, refused when the link is not absolute or a header is one only
/// the engine may write (the continuation was altered).
fn continuation_request(continuation: &Continuation) -> Result<Outgoing> {
    let url = Url::parse(continuation.expose_link())
        .map(as_sent)
        .map_err(|_| Error::invalid_argument("continuation", "its link is not an absolute URL"))?;
    let mut headers = HeaderMap::new();
    for (name, value) in continuation.header_pairs() {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            Error::invalid_argument("continuation", "it holds an invalid header name")
        })?;
        if is_reserved(name.as_str()) {
            return Err(Error::invalid_argument(
                "continuation",
                format!(
                    "it holds the header `{}`, which only the engine writes; it was altered",
                    sanitize_identifier(name.as_str())
                ),
            ));
        }
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
        resumable: false,
        credentialed: true,
        keys: None,
        batch: false,
    })
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
            walk.pager.max_pages = max_pages;
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
    fn a_continuation_resumes_with_a_get_of_its_link_and_headers() {
        let c: Continuation = serde_json::from_value(json!({
            "installation_id": "0d7e6a4b-1111-4222-8333-444455556666", "method_id": "users.list_users", "kind": "next_page",
            "link": "https://graph.microsoft.com/v1.0/users?$skiptoken=SKIPSECRET",
            "headers": [["consistencylevel", "eventual"]]
        }))
        .unwrap();
        let out = continuation_request(&c).unwrap();
        assert_eq!(out.headers.get("consistencylevel").unwrap(), "eventual");
        assert_eq!(out.method, Method::GET);
    }

    #[test]
    fn bad_continuations_are_refused() {
        let c: Continuation = serde_json::from_value(json!({
            "installation_id": "0d7e6a4b-1111-4222-8333-444455556666", "method_id": "m", "kind": "next_page", "link": "not a url"
        }))
        .unwrap();
        assert_eq!(
            continuation_request(&c).unwrap_err().field(),
            Some("continuation")
        );
        let c: Continuation = serde_json::from_value(json!({
            "installation_id": "0d7e6a4b-1111-4222-8333-444455556666", "method_id": "m", "kind": "next_page",
            "link": "https://graph.microsoft.com/", "headers": [["bad name", "v"]]
        }))
        .unwrap();
        assert_eq!(
            continuation_request(&c).unwrap_err().field(),
            Some("continuation")
        );
        for reserved in [
            "Content-Length",
            "host",
            "authorization",
            "transfer-encoding",
        ] {
            let c: Continuation = serde_json::from_value(json!({
                "installation_id": "0d7e6a4b-1111-4222-8333-444455556666", "method_id": "m", "kind": "next_page",
                "link": "https://graph.microsoft.com/", "headers": [[reserved, "100"]]
            }))
            .unwrap();
            let err = continuation_request(&c).unwrap_err();
            assert_eq!(err.field(), Some("continuation"));
            assert!(err.to_string().contains("only the engine writes"), "{err}");
        }
    }
}
