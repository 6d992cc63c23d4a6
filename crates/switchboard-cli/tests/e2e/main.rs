//! End-to-end tests: the `switchboard` binary against the offline sandbox.

mod harness;
mod keys;
mod sandbox_command;
