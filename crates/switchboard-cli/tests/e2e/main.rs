//! End-to-end tests: the `switchboard` binary against the offline sandbox.

mod harness;
mod install_flows;
mod keys;
mod quickstart;
mod sandbox_command;
