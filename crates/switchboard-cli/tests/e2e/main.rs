//! End-to-end tests: the `switchboard` binary against the offline sandbox.

mod batch;
mod definition_only;
mod every_method;
mod exit_codes;
mod fake_microsoft;
mod faults;
mod first_hour;
mod harness;
mod hostile_input;
mod hostile_network;
mod install_flows;
mod key_files;
mod keys;
mod notifications;
mod permissions;
mod quickstart;
mod sandbox_command;
mod sandbox_state;
mod sync;
