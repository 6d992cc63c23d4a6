//! End-to-end tests: the `switchboard` binary against the offline sandbox.

mod every_method;
mod faults;
mod harness;
mod hostile_network;
mod install_flows;
mod keys;
mod permissions;
mod quickstart;
mod sandbox_command;
