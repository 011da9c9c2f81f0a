//! The auth service: accounts, password hashing, access tokens.
//!
//! - [`settings`]: what the service reads at start.
//! - [`startup`]: builds the application (listeners first, so tests can use port 0).
//! - [`router`]: every route, and who may call it.
//! - [`controllers`]: one file per action.
//! - [`domain`]: parsed emails and acceptable new passwords.
//! - [`passwords`]: argon2id hashing off the async runtime, bounded.
//! - [`tokens`]: EdDSA access tokens and the JWKS.
//! - [`throttle`]: login rate limits per client address and per account.
//! - [`users`]: the `users` table.

pub mod controllers;
pub mod domain;
pub mod passwords;
pub mod router;
pub mod settings;
pub mod startup;
pub mod throttle;
pub mod tokens;
pub mod users;
