//! End-to-end tests: the `switchboard` binary against the offline sandbox.

mod every_method;
mod exit_codes;
mod faults;
mod first_hour;
mod harness;
mod install_flows;
mod keys;
mod permissions;
mod quickstart;
mod sandbox_command;
mod sandbox_state;
