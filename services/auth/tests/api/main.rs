//! Integration tests of the auth service: the real service on port 0, a real
//! PostgreSQL over TLS, real mutual TLS with certificates made at test time.

mod helpers;
mod jwks;
mod login;
mod logs;
mod mtls;
mod register;
mod rotation;
mod schemas;
