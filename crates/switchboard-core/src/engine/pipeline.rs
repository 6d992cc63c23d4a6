use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::TryFutureExt;
use http::HeaderMap;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE};
use serde_json::Value;
use tracing::Instrument;
use url::Url;

use crate::arguments::Arguments;
use crate::credential::{AccessToken, TokenRequest};
use crate::definition::ResponseKind;
use crate::engine::classify::{Verdict, parse_remote_details, response_error};
use crate::engine::govern::{self, Permits};
use crate::engine::redirect::{
    MAX_REDIRECTS, is_redirect, next_method, plan_hop, resolve_location, strip_credentials,
};
use crate::engine::response::{ByteStream, Response, ResponseBody};
use crate::engine::retry::{
    Decision, Repeat, RetryAfterHeader, Stop, Trouble, decide, parse_retry_after,
};
use crate::engine::retry_wait::RetryWait;
use crate::engine::wire::{AttemptClock, Failure, WireError, host_label, read_capped, read_prefix};
use crate::error::{Error, ErrorKind, Result};
use crate::headers::challenge::insufficient_claims;

use super::Engine;
use super::context::InstallationContext;
use super::plan::{Outgoing, Plan};

/// The most of an error body read to find the service's error details.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Where each send gets its headers (before the credential): the first
/// send may take a prepared map; every later one (a retry, a redirect hop)
/// gets a fresh map from `again`.
struct RequestHeaders<'a> {
    first: Option<HeaderMap>,
    again: &'a (dyn Fn() -> Result<HeaderMap> + Sync),
}

impl RequestHeaders<'_> {
    fn next(&mut self) -> Result<HeaderMap> {
        match self.first.take() {
            Some(headers) => Ok(headers),
            None => (self.again)(),
        }
    }
}

/// A response whose headers arrived in time; its body is read under the
/// same clock (the attempt's deadline and the read timeout).
pub(crate) struct Received {
    pub(crate) response: reqwest::Response,
    /// The attempt's clock.
    clock: AttemptClock,
    /// The governor's permits, given back when the response is dropped
    /// (after its body is read, for a body held in memory).
    pub(crate) permits: Permits,
}

/// A transport failure and the host it happened with.
struct Lost {
    error: WireError,
    host: String,
}

/// How one attempt ended.
enum Attempt {
    /// A final, successful (non-error) response.
    Done(Received),
    /// Anything else: the retry loop decides what follows.
    Setback(Setback),
}

/// An attempt that did not succeed.
enum Setback {
    /// 401 on a request that carried the credential.
    Refused {
        token: AccessToken,
        claims: Option<String>,
        response: Received,
    },
    /// An error response or a transport failure the retry policy judges.
    Failed {
        trouble: Trouble,
        retry_after: RetryAfterHeader,
        response: Option<Received>,
        transport: Option<Lost>,
        redirected: bool,
    },
}

/// Where a call's attempts stand.
struct Tries {
    started: tokio::time::Instant,
    attempt: u32,
    retries: u32,
    /// The token a 401 refused (and the claims it asked for): the next
    /// attempt asks for a new one.
    reauth: Option<(AccessToken, Option<String>)>,
    reauthed: bool,
}

/// The span of one attempt (its own function: the macro's stack space is
/// not part of the pipeline's).
#[inline(never)]
fn attempt_span(plan: &Plan, attempt: u32) -> tracing::Span {
    tracing::debug_span!(
        "switchboard.attempt",
        method = %plan.label(),
        attempt,
        status = tracing::field::Empty,
        wait_ms = tracing::field::Empty,
    )
}

impl Engine {
    /// Call a method once and return its response, body decoded in memory
    /// (JSON, or bytes for methods whose response kind is `bytes`). For a
    /// paged method this is the first page; use [`Engine::stream`] for records.
    pub async fn call(
        &self,
        ctx: &InstallationContext,
        method_id: &str,
        args: Arguments,
    ) -> Result<Response> {
        let span = self.call_span(ctx, method_id);
        async {
            let plan = self.plan(ctx, method_id)?;
            let mut received = self.prepare_and_execute(ctx, &plan, &args).await?;
            let bytes =
                read_body(&mut received, &plan.method().id, self.response_cap(&plan)).await?;
            let status = received.response.status().as_u16();
            // Moved, not copied: the response shows only the selected ones.
            let headers = std::mem::take(received.response.headers_mut());
            drop(received);
            let body = if bytes.is_empty() {
                ResponseBody::Empty
            } else {
                match plan.method().response {
                    ResponseKind::Bytes => ResponseBody::Bytes(bytes),
                    _ => ResponseBody::Json(decode_json(&bytes, &plan.method().id)?),
                }
            };
            Ok(Response::new(status, headers, body))
        }
        .instrument(span)
        .await
    }

    /// Call a method once and stream its response body (file downloads):
    /// nothing is buffered beyond the current chunk. Retries and redirects
    /// happen before the body starts; a failure while reading the body is
    /// a [`ErrorKind::Transport`] error from the stream. The call holds its
    /// governor permits until the stream ends or is dropped.
    pub async fn call_stream(
        &self,
        ctx: &InstallationContext,
        method_id: &str,
        args: Arguments,
    ) -> Result<ByteStream> {
        let span = self.call_span(ctx, method_id);
        async {
            let plan = self.plan(ctx, method_id)?;
            let Received {
                response,
                clock,
                permits,
            } = self.prepare_and_execute(ctx, &plan, &args).await?;
            Ok(ByteStream::from_reqwest(
                response,
                permits,
                clock.without_deadline(),
            ))
        }
        .instrument(span)
        .await
    }

    /// Prepare a call and run it through the pipeline. The first send takes
    /// the prepared headers as they are; a retry or a redirect hop, which
    /// needs them again, prepares the request again from the arguments.
    async fn prepare_and_execute(
        &self,
        ctx: &InstallationContext,
        plan: &Plan,
        args: &Arguments,
    ) -> Result<Received> {
        let mut outgoing = self.prepare(ctx, plan, args)?;
        let prepared = std::mem::take(&mut outgoing.headers);
        let rebuild = || self.prepare(ctx, plan, args).map(|again| again.headers);
        let mut headers = RequestHeaders {
            first: Some(prepared),
            again: &rebuild,
        };
        self.execute_with(ctx, plan, &outgoing, &mut headers).await
    }

    /// The pipeline from the host check to a successful response: token,
    /// send with redirects, classify, refresh once on 401, retry by policy.
    pub(crate) async fn execute(
        &self,
        ctx: &InstallationContext,
        plan: &Plan,
        outgoing: &Outgoing,
    ) -> Result<Received> {
        let copy = || Ok(outgoing.headers.clone());
        let mut headers = RequestHeaders {
            first: None,
            again: &copy,
        };
        self.execute_with(ctx, plan, outgoing, &mut headers).await
    }

    async fn execute_with(
        &self,
        ctx: &InstallationContext,
        plan: &Plan,
        outgoing: &Outgoing,
        headers: &mut RequestHeaders<'_>,
    ) -> Result<Received> {
        let mut tries = Tries {
            started: tokio::time::Instant::now(),
            attempt: 0,
            retries: 0,
            reauth: None,
            reauthed: false,
        };
        loop {
            tries.attempt += 1;
            let span = attempt_span(plan, tries.attempt);
            let reauth = tries.reauth.take();
            // The outcome is matched, not kept: what the loop holds across
            // the wait after a setback is the boxed future, not the setback.
            let after = match self
                .boxed_attempt(ctx, plan, outgoing, headers, reauth, &span)
                .await?
            {
                Attempt::Done(response) => return Ok(response),
                Attempt::Setback(setback) => {
                    self.boxed_after_setback(ctx, plan, outgoing, setback, &mut tries, &span)
                }
            };
            after.await?;
        }
    }

    /// [`Engine::attempt`] in its span, built in a frame of its own and
    /// boxed: the retry loop holds a pointer, not the attempt's state, and
    /// no poll of the loop carries the attempt's future on its stack.
    #[inline(never)]
    fn boxed_attempt<'a>(
        &'a self,
        ctx: &'a InstallationContext,
        plan: &'a Plan,
        outgoing: &'a Outgoing,
        headers: &'a mut RequestHeaders<'_>,
        reauth: Option<(AccessToken, Option<String>)>,
        span: &'a tracing::Span,
    ) -> std::pin::Pin<Box<impl Future<Output = Result<Attempt>> + 'a>> {
        let attempt = self.attempt(ctx, plan, outgoing, headers, reauth, span);
        Box::pin(attempt.instrument(span.clone()))
    }

    /// [`Engine::after_setback`], built in a frame of its own and boxed
    /// (see [`Engine::boxed_attempt`]); only a call with a setback pays for
    /// it.
    #[inline(never)]
    fn boxed_after_setback<'a>(
        &'a self,
        ctx: &'a InstallationContext,
        plan: &'a Plan,
        outgoing: &'a Outgoing,
        setback: Setback,
        tries: &'a mut Tries,
        span: &'a tracing::Span,
    ) -> std::pin::Pin<Box<impl Future<Output = Result<()>> + 'a>> {
        Box::pin(self.after_setback(ctx, plan, outgoing, setback, tries, span))
    }

    /// After a setback: `Ok` to try again (after a wait, or with a new
    /// token), the error to give up with.
    async fn after_setback(
        &self,
        ctx: &InstallationContext,
        plan: &Plan,
        outgoing: &Outgoing,
        setback: Setback,
        tries: &mut Tries,
        span: &tracing::Span,
    ) -> Result<()> {
        let policy = &self.inner.retry;
        match setback {
            Setback::Refused {
                token,
                claims,
                response,
            } => {
                if tries.reauthed {
                    return Err(
                        error_from_response(response, plan, Verdict::Unauthorized, None).await,
                    );
                }
                tries.reauthed = true;
                span.in_scope(|| {
                    tracing::debug!(
                        claims_challenge = claims.is_some(),
                        "credential refused; asking for a new token"
                    )
                });
                tries.reauth = Some((token, claims));
                Ok(())
            }
            Setback::Failed {
                trouble,
                retry_after,
                response,
                transport,
                redirected,
            } => {
                let repeat = if outgoing.resumable {
                    Repeat::Resumable
                } else {
                    Repeat::from(outgoing.idempotent)
                };
                if let (Trouble::Status(429), Some(wait)) = (trouble, retry_after.wait) {
                    govern::hold(&self.inner.governor, outgoing.keys.as_ref(), wait).await;
                }
                let retries = tries.retries;
                let mut decision = decide(
                    policy,
                    trouble,
                    repeat,
                    retry_after,
                    retries,
                    tries.started.elapsed(),
                );
                if redirected && !outgoing.idempotent {
                    // The request may have had its effect before the redirect.
                    if let Decision::Retry(_) = decision {
                        decision = Decision::Stop(Stop::OutcomeUnknown);
                    }
                }
                match decision {
                    Decision::Retry(wait) => {
                        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                        span.record("wait_ms", wait_ms);
                        span.in_scope(|| {
                            tracing::warn!(
                                reason = trouble_label(trouble),
                                wait_ms,
                                retry = retries + 1,
                                "retrying after a wait"
                            )
                        });
                        drop(response);
                        if let Some(observer) = &self.inner.on_retry_wait {
                            observer.notify(&RetryWait::new(
                                plan.label(),
                                ctx.installation_id(),
                                retries + 1,
                                policy.max_retries,
                                wait,
                                trouble,
                                retry_after.wait.is_some(),
                            ));
                        }
                        tokio::time::sleep(wait).await;
                        tries.retries += 1;
                        Ok(())
                    }
                    Decision::Stop(stop) => {
                        let (verdict, wait) = match stop {
                            Stop::Final => (Verdict::Final, retry_after.wait),
                            Stop::OutcomeUnknown => (Verdict::OutcomeUnknown, None),
                            Stop::Exhausted { wait } => (Verdict::Exhausted { retries }, wait),
                            Stop::WaitTooLong(wait) => (Verdict::WaitTooLong, Some(wait)),
                        };
                        span.in_scope(|| {
                            tracing::debug!(reason = trouble_label(trouble), ?verdict, "giving up")
                        });
                        Err(match response {
                            Some(response) => {
                                error_from_response(response, plan, verdict, wait).await
                            }
                            None => transport_error(plan, verdict, transport),
                        })
                    }
                }
            }
        }
    }

    /// One attempt: host check, admission, token, then each hop in turn:
    /// build its request, send it, judge the response (a redirect makes the
    /// next hop). The building and the judging are plain functions, out of
    /// line, so the attempt's own state and stack stay small.
    async fn attempt(
        &self,
        ctx: &InstallationContext,
        plan: &Plan,
        outgoing: &Outgoing,
        request_headers: &mut RequestHeaders<'_>,
        reauth: Option<(AccessToken, Option<String>)>,
        span: &tracing::Span,
    ) -> Result<Attempt> {
        if outgoing.credentialed {
            ctx.hosts().check_credentialed(&outgoing.url)?;
        } else {
            // a pre-authenticated link (an upload URL): no token is asked
            // for or sent, so the link need not be on the allow-list
            ctx.hosts().check_uncredentialed(&outgoing.url)?;
        }
        // admit: wait for the governor's permits on the request's limit keys
        let upload_bytes = outgoing.body.as_ref().map_or(0, |b| b.len() as u64);
        let permits = govern::admit(
            &self.inner.governor,
            outgoing.keys.as_ref(),
            ctx,
            upload_bytes,
        )
        .await?;
        let token = if outgoing.credentialed {
            let request = token_request(ctx, plan, reauth);
            Some(ctx.credential().token(&request).await?)
        } else {
            None
        };
        // The clock starts once the token is in hand (a token request has
        // its own deadline) and covers every hop of the attempt.
        let mut clock = AttemptClock::start(self.inner.attempt_deadline, self.inner.read_timeout);
        plan.credential_slot().usable()?;
        let mut hop = Hop::first(outgoing, token.is_some());
        loop {
            let request = hop.request(outgoing, request_headers.next()?, plan, token.as_ref())?;
            // reqwest's own future (its state boxed inside), not a block
            // holding the request: the clock's future stays small
            let sending = self.inner.client.execute(request);
            let sent = clock.run(sending.map_err(WireError::from_reqwest)).await;
            match hop.judge(sent, ctx, plan, outgoing, span)? {
                Judged::Redirected => continue,
                Judged::Lost(failed) => return Ok(Attempt::Setback(failed)),
                Judged::Final(response) => {
                    // the attempt's final response holds the permits until it is read
                    let received = Received {
                        response,
                        clock,
                        permits,
                    };
                    return Ok(final_outcome(received, token, &hop, outgoing));
                }
            }
        }
    }
}

/// What a token request for an attempt asks: the plan's scopes, and after
/// a 401 a token other than the refused one (with the claims asked for).
fn token_request(
    ctx: &InstallationContext,
    plan: &Plan,
    reauth: Option<(AccessToken, Option<String>)>,
) -> TokenRequest {
    let mut request = TokenRequest::new(ctx.installation_id(), Arc::clone(plan.scopes()));
    if let Some((rejected, claims)) = reauth {
        request = request.with_rejected(rejected);
        if let Some(claims) = claims {
            request = request.with_claims(claims);
        }
    }
    request
}

/// One hop of an attempt: the first goes where the call goes; a redirect
/// makes the next, with its method, body and whether the credential goes
/// along.
struct Hop {
    /// How many redirects were followed to get here.
    number: usize,
    /// `None`: the outgoing request's URL.
    url: Option<Url>,
    method: reqwest::Method,
    body: Option<Bytes>,
    credentialed: bool,
    redirected: bool,
}

/// How a hop ended.
enum Judged {
    /// A redirect was followed: the hop is the next one.
    Redirected,
    /// The response that ends the attempt.
    Final(reqwest::Response),
    /// The request failed on the way: the attempt's outcome.
    Lost(Setback),
}

impl Hop {
    fn first(outgoing: &Outgoing, credentialed: bool) -> Hop {
        Hop {
            number: 0,
            url: None,
            method: outgoing.method.clone(),
            body: outgoing.body.clone(),
            credentialed,
            redirected: false,
        }
    }

    /// Where the hop goes (without the credential a slot may add to it).
    fn url<'a>(&'a self, outgoing: &'a Outgoing) -> &'a Url {
        self.url.as_ref().unwrap_or(&outgoing.url)
    }

    /// The hop's request: `headers` with the credential written in where
    /// it goes along (and every credential taken out where it does not).
    #[inline(never)]
    fn request(
        &self,
        outgoing: &Outgoing,
        mut headers: HeaderMap,
        plan: &Plan,
        token: Option<&AccessToken>,
    ) -> Result<reqwest::Request> {
        let url = self.url(outgoing);
        let slot = plan.credential_slot();
        let mut sent_url = None;
        if self.credentialed
            && let Some(token) = token
        {
            slot.write_header(&mut headers, token)?;
            sent_url = slot.url_to_send(url, token);
        } else {
            strip_credentials(&mut headers);
            if let Some(name) = slot.header_name() {
                headers.remove(name);
            }
        }
        if self.redirected && self.body.is_none() {
            headers.remove(CONTENT_TYPE);
            headers.remove(CONTENT_LENGTH);
        }
        let mut request =
            reqwest::Request::new(self.method.clone(), sent_url.unwrap_or_else(|| url.clone()));
        *request.headers_mut() = headers;
        if let Some(body) = &self.body {
            *request.body_mut() = Some(body.clone().into());
        }
        Ok(request)
    }

    /// What the hop's response (or failure) means: a redirect to follow
    /// (this hop becomes the next), the response that ends the attempt,
    /// or a failure.
    #[inline(never)]
    fn judge(
        &mut self,
        sent: std::result::Result<reqwest::Response, WireError>,
        ctx: &InstallationContext,
        plan: &Plan,
        outgoing: &Outgoing,
        span: &tracing::Span,
    ) -> Result<Judged> {
        let response = match sent {
            Ok(response) => response,
            Err(error) => {
                let trouble = trouble_of(error.failure);
                span.in_scope(|| {
                    tracing::debug!(reason = trouble_label(trouble), "request failed")
                });
                return Ok(Judged::Lost(Setback::Failed {
                    trouble,
                    retry_after: RetryAfterHeader::default(),
                    response: None,
                    transport: Some(Lost {
                        host: host_label(self.url(outgoing)),
                        error,
                    }),
                    redirected: self.redirected,
                }));
            }
        };
        let status = response.status().as_u16();
        span.record("status", status);
        let Some(location) = response
            .headers()
            .get(LOCATION)
            .filter(|_| is_redirect(status))
        else {
            return Ok(Judged::Final(response));
        };
        if self.number == MAX_REDIRECTS {
            return Err(Error::new(
                ErrorKind::Remote,
                format!(
                    "`{}` was redirected more than {MAX_REDIRECTS} times; stopped",
                    plan.label()
                ),
            )
            .with_remote(crate::error::RemoteDetails::status(status)));
        }
        // the hop's own URL: the one sent may carry the credential
        let url = self.url(outgoing);
        let target = resolve_location(url, location)?;
        let keep_credential = plan_hop(
            ctx.hosts(),
            url,
            &target,
            self.credentialed,
            plan.method().follow_cross_origin_redirects,
        )?;
        span.in_scope(|| {
            tracing::debug!(
                status,
                hop = self.number + 1,
                credentials = keep_credential,
                host = target.host_str().unwrap_or_default(),
                "following redirect"
            )
        });
        let (next, keep_body) = next_method(status, &self.method);
        self.method = next;
        if !keep_body {
            self.body = None;
        }
        self.number += 1;
        self.credentialed = keep_credential;
        self.redirected = true;
        self.url = Some(target);
        Ok(Judged::Redirected)
    }
}

/// The outcome of an attempt whose final response came: done, refused (a
/// 401 to a request that carried the credential), or failed by status.
#[inline(never)]
fn final_outcome(
    response: Received,
    token: Option<AccessToken>,
    hop: &Hop,
    outgoing: &Outgoing,
) -> Attempt {
    let status = response.response.status().as_u16();
    if status == 401
        && hop.credentialed
        && let Some(token) = token
    {
        let claims = response
            .response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(insufficient_claims);
        return Attempt::Setback(Setback::Refused {
            token,
            claims,
            response,
        });
    }
    if status < 400 || (outgoing.batch && status == 424) {
        return Attempt::Done(response);
    }
    let retry_after = retry_after_of(response.response.headers());
    Attempt::Setback(Setback::Failed {
        trouble: Trouble::Status(status),
        retry_after,
        response: Some(response),
        transport: None,
        redirected: hop.redirected,
    })
}

fn retry_after_of(headers: &HeaderMap) -> RetryAfterHeader {
    match headers.get(RETRY_AFTER) {
        None => RetryAfterHeader::default(),
        Some(value) => RetryAfterHeader {
            present: true,
            wait: value
                .to_str()
                .ok()
                .and_then(|v| parse_retry_after(v, SystemTime::now())),
        },
    }
}

/// What a transport failure means for retrying: a name that does not
/// resolve is final; a failed connection sent nothing; a timeout or the
/// deadline may have reached the service.
fn trouble_of(failure: Failure) -> Trouble {
    match failure {
        Failure::Resolve => Trouble::Resolve,
        Failure::Refused | Failure::Connect | Failure::Declined => Trouble::Connect,
        Failure::Timeout | Failure::Deadline(_) => Trouble::Timeout,
        _ => Trouble::Transport,
    }
}

fn trouble_label(trouble: Trouble) -> String {
    match trouble {
        Trouble::Status(s) => format!("status {s}"),
        Trouble::Resolve => "host name does not resolve".into(),
        Trouble::Connect => "connection failed".into(),
        Trouble::Timeout => "timed out".into(),
        Trouble::Transport => "transport error".into(),
    }
}

/// Build the error for an unsuccessful response, reading (a bounded part of)
/// its body for the service's error details. The body itself is not kept.
async fn error_from_response(
    received: Received,
    plan: &Plan,
    verdict: Verdict,
    wait: Option<Duration>,
) -> Error {
    let Received {
        mut response,
        mut clock,
        permits: _permits,
    } = received;
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let request_id = header("request-id");
    let client_request_id = header("client-request-id");
    let wait = wait.or_else(|| retry_after_of(response.headers()).wait);
    let body = read_prefix(&mut response, MAX_ERROR_BODY, &mut clock).await;
    let mut details = parse_remote_details(status, &body);
    if details.request_id.is_none() {
        details.request_id = request_id;
    }
    if details.client_request_id.is_none() {
        details.client_request_id = client_request_id;
    }
    response_error(plan.failed(), verdict, details, wait)
}

fn transport_error(plan: &Plan, verdict: Verdict, lost: Option<Lost>) -> Error {
    let m = plan.label();
    let (what, source) = match lost {
        Some(Lost { error, host }) => (error.failure.describe(&host), error.source),
        None => (
            "the connection failed while the request was in flight".into(),
            None,
        ),
    };
    let error = match verdict {
        Verdict::OutcomeUnknown => Error::new(
            ErrorKind::OutcomeUnknown,
            format!(
                "`{m}` may or may not have taken effect: {what}, and the request was not resent because repeating it is unsafe; check the resource's state before trying again"
            ),
        ),
        Verdict::Exhausted { retries } => Error::new(
            ErrorKind::Transient,
            format!(
                "`{m}` failed: {what}, through {retries} retries; check the network and try again later"
            ),
        ),
        _ => Error::new(ErrorKind::Transport, format!("`{m}` failed: {what}")),
    };
    match source {
        Some(source) => error.with_source(source),
        None => error,
    }
}

/// The whole body of a response held in memory: at most `cap` bytes after
/// decompression, under the attempt's clock. Borrowed, not taken: the
/// reading future holds a reference, not a second copy of the response; the
/// caller drops `received` (and its permits) once the body is read.
pub(super) async fn read_body(received: &mut Received, method_id: &str, cap: u64) -> Result<Bytes> {
    let Received {
        response, clock, ..
    } = received;
    read_capped(response, cap, clock)
        .await
        .map_err(|e| {
            // named only on failure: no allocation on the way to success
            let what = e.failure.describe(&host_label(response.url()));
            let error = match e.failure {
                Failure::TooLarge(_) => Error::new(
                    ErrorKind::Decode,
                    format!(
                        "the response to `{method_id}` was not read: {what}; raise the method's `max_response_bytes` or the engine's (EngineBuilder::max_response_bytes), or stream it"
                    ),
                )
                .with_field("max_response_bytes"),
                Failure::Deadline(_) => Error::new(
                    ErrorKind::Transport,
                    format!(
                        "the response to `{method_id}` was not read to the end: {what}; raise it with EngineBuilder::attempt_deadline if the service is merely slow"
                    ),
                ),
                _ => Error::new(
                    ErrorKind::Transport,
                    format!("the response to `{method_id}` was not read to the end: {what}"),
                ),
            };
            match e.source {
                Some(source) => error.with_source(source),
                None => error,
            }
        })
}

pub(super) fn decode_json(bytes: &[u8], method_id: &str) -> Result<Value> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::new(
            ErrorKind::Decode,
            format!("the response to `{method_id}` is not valid JSON"),
        )
        .with_source(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::retry::RetryPolicy;

    #[test]
    fn a_declined_request_is_resent_even_when_it_is_not_idempotent() {
        let trouble = trouble_of(Failure::Declined);
        assert_eq!(trouble, Trouble::Connect);
        let decision = decide(
            &RetryPolicy::default(),
            trouble,
            Repeat::Unsafe,
            RetryAfterHeader::default(),
            0,
            Duration::ZERO,
        );
        assert!(matches!(decision, Decision::Retry(_)), "{decision:?}");
        // a connection broken in flight is not: the POST may have had its effect
        let decision = decide(
            &RetryPolicy::default(),
            trouble_of(Failure::Broken),
            Repeat::Unsafe,
            RetryAfterHeader::default(),
            0,
            Duration::ZERO,
        );
        assert!(
            matches!(decision, Decision::Stop(Stop::OutcomeUnknown)),
            "{decision:?}"
        );
    }
}
