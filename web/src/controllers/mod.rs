//! What each page and form does. Every handler takes a [`Shopper`] (the
//! cookies, read and verified) and answers with a whole page or a redirect.

// Guards return the page to send as their error; handlers send it at once.
#![allow(clippy::result_large_err)]

pub mod account;
pub mod admin;
pub mod cart;
pub mod catalogue;
pub mod orders;

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::SignedCookieJar;
use axum_extra::extract::cookie::Key;
use cloudshop_platform::http::RequestId;
use cloudshop_platform::jwt::JwtVerifier;
use http::StatusCode;
use maud::Markup;

use crate::gateway::{Caller, ClientError, Gateway};
use crate::pages::layout;
use crate::session::{CookiePolicy, Visitor, with_flash};

#[derive(Debug, Clone)]
pub struct AppState {
    pub gateway: Gateway,
    pub verifier: Arc<JwtVerifier>,
    pub key: Key,
    pub policy: CookiePolicy,
}

impl FromRef<AppState> for Key {
    fn from_ref(state: &AppState) -> Self {
        state.key.clone()
    }
}

/// The browser's side of a request: cookies, address and request id.
#[derive(Debug)]
pub struct Shopper {
    pub jar: SignedCookieJar,
    pub visitor: Visitor,
    pub policy: CookiePolicy,
    address: Option<IpAddr>,
    request_id: Option<String>,
}

impl FromRequestParts<AppState> for Shopper {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let jar = SignedCookieJar::from_request_parts(parts, state).await?;
        let (jar, visitor) = Visitor::load(jar, &state.verifier, state.policy);
        Ok(Self {
            jar,
            visitor,
            policy: state.policy,
            address: cloudshop_platform::http::client_address(parts, &[]),
            request_id: parts
                .extensions
                .get::<RequestId>()
                .map(|id| id.as_str().to_owned()),
        })
    }
}

impl Shopper {
    /// Calls on the shopper's behalf (their token, their address).
    pub fn caller(&self) -> Caller<'_> {
        Caller {
            token: self.visitor.token.as_deref(),
            address: self.address,
            request_id: self.request_id.as_deref(),
        }
    }

    /// Changes the cookies to send back.
    pub fn map_jar(self, change: impl FnOnce(SignedCookieJar, CookiePolicy) -> SignedCookieJar) -> Self {
        let jar = change(self.jar, self.policy);
        Self { jar, ..self }
    }

    pub fn render(self, markup: Markup) -> Response {
        (self.jar, Html(markup.into_string())).into_response()
    }

    pub fn render_status(self, status: StatusCode, markup: Markup) -> Response {
        (status, self.jar, Html(markup.into_string())).into_response()
    }

    /// A 303 to `to`, with a flash message for the next page.
    pub fn redirect(self, to: &str, flash: Option<&str>) -> Response {
        let jar = match flash {
            Some(message) => with_flash(self.jar, self.policy, message),
            None => self.jar,
        };
        (jar, Redirect::to(to)).into_response()
    }

    /// A message page with `status`.
    pub fn message(self, status: StatusCode, title: &str, text: &str) -> Response {
        let markup = layout::message(title, &self.visitor, text);
        self.render_status(status, markup)
    }

    pub fn not_found(self) -> Response {
        self.message(
            StatusCode::NOT_FOUND,
            "Not found",
            "We could not find what you were looking for.",
        )
    }

    /// Refuses a form whose CSRF token is missing or wrong.
    pub fn check_csrf(self, submitted: &str) -> Result<Self, Response> {
        if self.visitor.csrf_ok(submitted) {
            Ok(self)
        } else {
            tracing::warn!("form refused: CSRF token missing or wrong");
            Err(self.message(
                StatusCode::FORBIDDEN,
                "This form has expired",
                "Please go back, reload the page and try again.",
            ))
        }
    }

    /// Pages that need a logged-in shopper send others to the login page.
    pub fn require_login(self) -> Result<Self, Response> {
        if self.visitor.claims.is_some() {
            Ok(self)
        } else {
            Err(self.redirect("/login", Some("Please log in first.")))
        }
    }

    /// Admin pages exist only for admins; the API checks again.
    pub fn require_admin(self) -> Result<Self, Response> {
        if self.visitor.is_admin() {
            Ok(self)
        } else {
            Err(self.message(
                StatusCode::FORBIDDEN,
                "Admins only",
                "This page is for shop administrators.",
            ))
        }
    }

    /// The page for an API failure: an outage, an expired session, a refusal.
    pub fn failure(self, err: ClientError) -> Response {
        match err.status() {
            StatusCode::UNAUTHORIZED => self
                .map_jar(|jar, _| crate::session::cleared(jar))
                .redirect("/login", Some("Your session has ended. Please log in again.")),
            StatusCode::NOT_FOUND => self.not_found(),
            status if status.is_client_error() => {
                let message = capitalise(err.message().unwrap_or_default());
                self.message(status, "Something is not right", &message)
            }
            // Down, slow, or an answer that is not the API's: an outage to the shopper.
            _ => {
                tracing::warn!(error = %err, "gateway call failed");
                self.message(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service unavailable",
                    "We cannot reach the shop's services right now. Please try again in a moment.",
                )
            }
        }
    }
}

pub fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Form numbers arrive as text; a bad one is a validation message, not a crash.
pub fn number<T: std::str::FromStr>(field: &str, value: &str) -> Result<T, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("{field} must be a whole number"))
}
