//! The memory a call holds while it waits: the future `Engine::call`
//! returns lives in the caller's task for the whole round trip, one per
//! call in flight, and every poll walks it. Its size is a budget, checked
//! here so that a change which makes every call carry more (a value kept
//! across an `.await` after it was moved, a second copy of the response)
//! is seen when it is made. docs/benchmarks.md has the measurement that
//! set it (1,608 bytes before, 976 after; test and release builds agree).

mod support;

use std::mem::size_of_val;

use support::*;
use switchboard_core::Arguments;

/// The most a call's future may hold, in bytes.
const CALL_BUDGET: usize = 1024;

#[tokio::test]
async fn a_call_in_flight_holds_at_most_its_budget() {
    let server = server().await;
    let engine = engine();
    let ctx = ctx(&server, RecordingCredential::new());
    let call = engine.call(&ctx, "users.get_user", Arguments::new().set("id", "adele"));
    let size = size_of_val(&call);
    drop(call);
    assert!(
        size <= CALL_BUDGET,
        "Engine::call's future is {size} bytes, over its budget of {CALL_BUDGET}"
    );
    // nothing was sent: the future was never polled
    assert!(server.received_requests().await.unwrap().is_empty());
}
