//! The [`Receiver`] as an axum route (cargo feature `axum`): bodies read up
//! to the receiver's cap, verified notifications put on a bounded queue the
//! platform drains, the answer sent without waiting for the work.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use tokio::sync::mpsc;

use crate::receiver::{Notification, Receiver};

#[derive(Clone)]
struct Route {
    receiver: Receiver,
    queue: mpsc::Sender<Notification>,
}

/// A router answering POST on every path with `receiver`, and the queue of
/// verified notifications (at most `queue` waiting; when it is full the
/// batch is answered `503` so Graph delivers it again later, which the
/// platform tolerates since Graph may deliver twice anyway).
///
/// ```no_run
/// # async fn run(receiver: switchboard_sync::Receiver) -> std::io::Result<()> {
/// let (router, mut notifications) = switchboard_sync::axum_router(receiver, 1024);
/// tokio::spawn(async move {
///     while let Some(n) = notifications.recv().await {
///         println!("{n:?}");
///     }
/// });
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// axum::serve(listener, router).await
/// # }
/// ```
pub fn axum_router(
    receiver: Receiver,
    queue: usize,
) -> (axum::Router, mpsc::Receiver<Notification>) {
    let (tx, rx) = mpsc::channel(queue.max(1));
    let router = axum::Router::new().fallback(receive).with_state(Route {
        receiver,
        queue: tx,
    });
    (router, rx)
}

async fn receive(State(route): State<Route>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, route.receiver.max_body()).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let request = http::Request::from_parts(parts, bytes);
    let received = route.receiver.receive(&request).await;
    for notification in received.notifications {
        if route.queue.try_send(notification).is_err() {
            tracing::warn!("the notification queue is full; Graph will deliver the batch again");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
    received.response.map(Body::from).into_response()
}
