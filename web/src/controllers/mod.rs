//! What each page and form does. Every handler takes a [`Shopper`] (the
//! cookies, read and verified), or a guard that refuses before the handler
//! runs ([`LoggedIn`], [`Admin`]), and a submitted form only as a
//! [`CsrfForm`]; it answers with a whole page or a redirect.

pub mod account;
pub mod admin;
pub mod cart;
pub mod catalogue;
pub mod orders;

use std::net::IpAddr;
use std::sync::Arc;

use axum::Form;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::SignedCookieJar;
use axum_extra::extract::cookie::Key;
use cloudshop_platform::http::RequestId;
use cloudshop_platform::jwt::JwtVerifier;
use http::StatusCode;
use maud::Markup;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::gateway::{Caller, ClientError, Gateway};
use crate::pages::layout;
use crate::session::{self, CookiePolicy, Visitor, with_flash};

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
pub struct Shopper {
    pub jar: SignedCookieJar,
    pub visitor: Visitor,
    pub policy: CookiePolicy,
    address: Option<IpAddr>,
    request_id: Option<String>,
}

/// Leaves out the jar: a signed cookie's value is in clear, and the session
/// cookie's value is the bearer token.
impl std::fmt::Debug for Shopper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shopper")
            .field("visitor", &self.visitor)
            .field("policy", &self.policy)
            .field("address", &self.address)
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

/// What a request carries before anything is verified: the signed cookies,
/// the shopper's address and the request id.
struct Arrival {
    jar: SignedCookieJar,
    address: Option<IpAddr>,
    request_id: Option<String>,
}

impl Arrival {
    fn read(parts: &http::request::Parts, state: &AppState) -> Self {
        Self {
            jar: SignedCookieJar::from_headers(&parts.headers, state.key.clone()),
            address: cloudshop_platform::http::client_address(parts, &[]),
            request_id: parts
                .extensions
                .get::<RequestId>()
                .map(|id| id.as_str().to_owned()),
        }
    }

    /// Reads the cookies (verifying the session's token).
    fn shopper(self, state: &AppState) -> Shopper {
        let (jar, visitor) = Visitor::load(self.jar, &state.verifier, state.policy);
        Shopper {
            jar,
            visitor,
            policy: state.policy,
            address: self.address,
            request_id: self.request_id,
        }
    }
}

impl FromRequestParts<AppState> for Shopper {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Arrival::read(parts, state).shopper(state))
    }
}

/// A logged-in shopper. Anyone else is sent to the login page.
#[derive(Debug)]
pub struct LoggedIn(pub Shopper);

impl FromRequestParts<AppState> for LoggedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let shopper = Arrival::read(parts, state).shopper(state);
        if shopper.visitor.claims.is_some() {
            Ok(Self(shopper))
        } else {
            Err(shopper.redirect("/login", Some("Please log in first.")))
        }
    }
}

/// An admin. Admin pages exist only for admins (a 403 page for anyone
/// else); the API checks the role again.
#[derive(Debug)]
pub struct Admin(pub Shopper);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let shopper = Arrival::read(parts, state).shopper(state);
        if shopper.visitor.is_admin() {
            Ok(Self(shopper))
        } else {
            Err(shopper.message(
                StatusCode::FORBIDDEN,
                "Admins only",
                "This page is for shop administrators.",
            ))
        }
    }
}

/// A submitted form whose `csrf` field equals the CSRF cookie (double
/// submit, compared in constant time); `T` is the rest of its fields
/// (`()` for a form that is only a button).
///
/// A missing or wrong token is a 403 "This form has expired" page and the
/// form is not acted on; a body that is no form is the 4xx page of
/// [`axum::Form`]'s rejection. As the body, it is the handler's last
/// argument, so a guard before it ([`LoggedIn`], [`Admin`]) refuses first.
#[derive(Debug)]
pub struct CsrfForm<T = ()>(pub T);

#[derive(Deserialize)]
struct Submitted<T> {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    fields: T,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let arrival = Arrival::read(&parts, state);
        let request = Request::from_parts(parts, body);
        let Form(submitted) = Form::<Submitted<T>>::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let cookie = session::csrf_token(&arrival.jar);
        if cookie.is_some_and(|cookie| session::tokens_match(&cookie, &submitted.csrf)) {
            return Ok(Self(submitted.fields));
        }
        tracing::warn!("form refused: CSRF token missing or wrong");
        Err(arrival.shopper(state).message(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "Please go back, reload the page and try again.",
        ))
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use cloudshop_host::files::ShopFiles;
    use cloudshop_host::redaction::{assert_debug_hides, pem_der};
    use cloudshop_platform::jwt::JwtSettings;
    use cloudshop_platform::tls::TlsMaterial;

    use super::*;

    const TOKEN: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJzaG9wcGVyIn0.Sig-Shopper-6pLm2QxV8kWz";

    /// The state as `startup::build` makes it, from a shop's files.
    #[test]
    fn debug_output_of_the_state_holds_none_of_the_cookie_key() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let files = ShopFiles::new(dir.path());
        files.ensure()?;
        let cookie_key = std::fs::read(files.cookie_key().path())?;
        let tls = TlsMaterial::load(&files.tls("storefront"))?;
        let state = AppState {
            gateway: crate::gateway::connect(&tls, "https://127.0.0.1:8080", Duration::from_secs(5))?,
            verifier: Arc::new(JwtVerifier::from_settings(&JwtSettings {
                public_keys_file: files.jwt_public_keys(),
                ..JwtSettings::default()
            })?),
            key: Key::try_from(cookie_key.as_slice())?,
            policy: CookiePolicy { secure: true },
        };

        assert_debug_hides(&state, &cookie_key);
        assert_debug_hides(&state, state.key.signing());
        assert_debug_hides(&state, state.key.encryption());
        let tls_key = pem_der(&std::fs::read(files.key("storefront"))?)?;
        assert_debug_hides(&state, &tls_key);
        Ok(())
    }

    #[test]
    fn debug_output_of_a_shopper_holds_none_of_the_session_cookie() {
        let policy = CookiePolicy { secure: true };
        let jar = SignedCookieJar::new(Key::generate());
        let jar = session::with_session(jar, policy, TOKEN.into());
        assert!(jar.get("session").is_some_and(|c| c.value() == TOKEN));
        let shopper = Shopper {
            jar,
            visitor: Visitor {
                token: Some(TOKEN.into()),
                ..Visitor::anonymous()
            },
            policy,
            address: Some(IpAddr::from([192, 0, 2, 9])),
            request_id: Some("req-7".into()),
        };
        assert_debug_hides(&shopper, TOKEN.as_bytes());
        assert_debug_hides(&LoggedIn(shopper), TOKEN.as_bytes());
    }
}
