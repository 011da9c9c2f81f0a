//! Integration tests of the gateway in front of the real auth service: real
//! PostgreSQL, real TLS to the gateway, real mutual TLS behind it.

mod bad_input;
mod edge;
mod flow;
mod helpers;
mod jwt;
