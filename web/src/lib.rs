//! The storefront: server-rendered HTML pages (maud), usable with JavaScript
//! disabled, that talk only to the API gateway over TLS with the storefront's
//! client certificate.
//!
//! - [`settings`], [`startup`]: configuration and start-up.
//! - [`router`]: every page and form, and the security headers.
//! - [`gateway`]: the typed client of the public API.
//! - [`session`]: the session cookie (the access token), the signed cart
//!   cookie, CSRF tokens and flash messages.
//! - [`pages`]: the HTML; [`controllers`]: what each page and form does.

pub mod controllers;
pub mod gateway;
pub mod pages;
pub mod router;
pub mod session;
pub mod settings;
pub mod startup;

/// The one stylesheet.
pub const STYLESHEET: &str = include_str!("../static/style.css");

/// The icon browsers ask for.
pub const FAVICON: &str = include_str!("../static/favicon.svg");
