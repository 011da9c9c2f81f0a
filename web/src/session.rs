//! What the browser keeps: the session (the access token), the cart, a CSRF
//! token, a one-shot flash message and the device token of the last login
//! (auth's proof that this browser logged in before, which lets it through an
//! account's lockout), each in a cookie signed with the storefront's key. A tampered cookie fails its signature and reads as
//! absent: a tampered cart is an empty cart, not an error page.
//!
//! Every cookie is `HttpOnly` and `SameSite=Lax`, and `Secure` whenever the
//! storefront is reached over TLS. Every form carries the CSRF token, which
//! must equal the cookie's (double submit, compared in constant time).

use axum_extra::extract::SignedCookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use cloudshop_platform::jwt::{Claims, JwtVerifier};
use serde::{Deserialize, Serialize};

const SESSION: &str = "session";
const CART: &str = "cart";
const CSRF: &str = "csrf";
const FLASH: &str = "flash";
const DEVICE: &str = "device";

/// How long the browser keeps the device token; auth's own expiry (30 days
/// by default) decides whether it still counts.
const DEVICE_COOKIE_DAYS: i64 = 30;

pub const MAX_CART_LINES: usize = 50;
pub const MAX_CART_QUANTITY: i32 = 99;

/// A cart line is the line of the order it becomes.
pub use cloudshop_api::orders::Line as CartLine;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    pub lines: Vec<CartLine>,
}

impl Cart {
    /// Adds `quantity` of a product (capped at the per-line maximum).
    pub fn add(&mut self, product_id: i64, quantity: i32) {
        if let Some(line) = self.lines.iter_mut().find(|l| l.product_id == product_id) {
            line.quantity = line.quantity.saturating_add(quantity).min(MAX_CART_QUANTITY);
        } else if self.lines.len() < MAX_CART_LINES {
            self.lines.push(CartLine {
                product_id,
                quantity: quantity.min(MAX_CART_QUANTITY),
            });
        }
    }

    /// Sets a line's quantity; zero removes it.
    pub fn set(&mut self, product_id: i64, quantity: i32) {
        if quantity <= 0 {
            self.lines.retain(|l| l.product_id != product_id);
        } else if let Some(line) = self.lines.iter_mut().find(|l| l.product_id == product_id) {
            line.quantity = quantity.min(MAX_CART_QUANTITY);
        }
    }

    pub fn items(&self) -> i32 {
        self.lines.iter().map(|l| l.quantity).sum()
    }

    /// Only well-formed lines survive a read.
    fn sanitised(mut self) -> Self {
        self.lines
            .retain(|l| l.product_id > 0 && (1..=MAX_CART_QUANTITY).contains(&l.quantity));
        self.lines.truncate(MAX_CART_LINES);
        self
    }
}

/// How cookies are written.
#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    pub secure: bool,
}

impl CookiePolicy {
    fn cookie(&self, name: &'static str, value: String) -> Cookie<'static> {
        Cookie::build((name, value))
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .path("/")
            .build()
    }
}

/// The shopper as the request shows them. `Debug` shows neither the session's
/// bearer token nor the CSRF token.
#[derive(Clone)]
pub struct Visitor {
    pub claims: Option<Claims>,
    pub token: Option<String>,
    pub cart: Cart,
    pub csrf: String,
    pub flash: Option<String>,
}

impl std::fmt::Debug for Visitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Visitor")
            .field("claims", &self.claims)
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .field("cart", &self.cart)
            .field("csrf", &"[REDACTED]")
            .field("flash", &self.flash)
            .finish()
    }
}

impl Visitor {
    /// Reads the cookies; sets a CSRF token when there is none and consumes
    /// the flash message. Returns the jar to send back.
    pub fn load(
        jar: SignedCookieJar,
        verifier: &JwtVerifier,
        policy: CookiePolicy,
    ) -> (SignedCookieJar, Self) {
        let token = jar.get(SESSION).map(|c| c.value().to_owned());
        let claims = token.as_deref().and_then(|t| verifier.verify(t).ok());
        let token = claims.as_ref().and(token);
        let cart = jar
            .get(CART)
            .and_then(|c| serde_json::from_str::<Cart>(c.value()).ok())
            .map(Cart::sanitised)
            .unwrap_or_default();
        let flash = jar.get(FLASH).map(|c| c.value().to_owned());
        let mut jar = jar;
        if flash.is_some() {
            jar = jar.remove(Cookie::build(FLASH).path("/").build());
        }
        let csrf = match jar.get(CSRF) {
            Some(cookie) => cookie.value().to_owned(),
            None => {
                let fresh = uuid::Uuid::new_v4().simple().to_string();
                jar = jar.add(policy.cookie(CSRF, fresh.clone()));
                fresh
            }
        };
        (
            jar,
            Self {
                claims,
                token,
                cart,
                csrf,
                flash,
            },
        )
    }

    pub fn is_admin(&self) -> bool {
        self.claims.as_ref().is_some_and(Claims::is_admin)
    }
}

/// The CSRF token the browser holds, when its cookie is there and signed.
pub fn csrf_token(jar: &SignedCookieJar) -> Option<String> {
    jar.get(CSRF).map(|cookie| cookie.value().to_owned())
}

/// Whether a submitted form's token equals the cookie's, compared in
/// constant time. An empty token matches nothing.
pub fn tokens_match(cookie: &str, submitted: &str) -> bool {
    let (a, b) = (cookie.as_bytes(), submitted.as_bytes());
    !a.is_empty() && a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn with_cart(jar: SignedCookieJar, policy: CookiePolicy, cart: &Cart) -> SignedCookieJar {
    let value = serde_json::to_string(cart).unwrap_or_else(|_| "{\"lines\":[]}".into());
    jar.add(policy.cookie(CART, value))
}

pub fn with_session(jar: SignedCookieJar, policy: CookiePolicy, token: String) -> SignedCookieJar {
    jar.add(policy.cookie(SESSION, token))
}

pub fn with_flash(jar: SignedCookieJar, policy: CookiePolicy, message: impl Into<String>) -> SignedCookieJar {
    jar.add(policy.cookie(FLASH, message.into()))
}

/// The device token of the last successful login in this browser.
pub fn device_token(jar: &SignedCookieJar) -> Option<cloudshop_api::auth::DeviceToken> {
    jar.get(DEVICE)
        .map(|cookie| cloudshop_api::auth::DeviceToken::new(cookie.value()))
}

/// Keeps a login's device token; it outlives the session (logging out keeps
/// it: it names the browser, not the session).
pub fn with_device(
    jar: SignedCookieJar,
    policy: CookiePolicy,
    token: &cloudshop_api::auth::DeviceToken,
) -> SignedCookieJar {
    let mut cookie = policy.cookie(DEVICE, token.as_str().to_owned());
    cookie.set_max_age(time::Duration::days(DEVICE_COOKIE_DAYS));
    jar.add(cookie)
}

/// Logging out clears the session and the cart.
pub fn cleared(jar: SignedCookieJar) -> SignedCookieJar {
    jar.remove(Cookie::build(SESSION).path("/").build())
        .remove(Cookie::build(CART).path("/").build())
}

impl Visitor {
    /// A visitor with no cookies (error pages rendered outside a handler).
    pub fn anonymous() -> Self {
        Self {
            claims: None,
            token: None,
            cart: Cart::default(),
            csrf: String::new(),
            flash: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use cloudshop_host::redaction::assert_debug_hides;

    use super::*;

    const TOKEN: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ2aXNpdG9yIn0.Sig-Visitor-3nXq7LwK9rTb";
    const CSRF_TOKEN: &str = "csrf4f1e9b2c7d8a6e5f3b0c9d8e7f6a5b";

    #[test]
    fn debug_output_holds_none_of_the_session_token() {
        let visitor = Visitor {
            token: Some(TOKEN.into()),
            csrf: CSRF_TOKEN.into(),
            flash: Some("Welcome back!".into()),
            ..Visitor::anonymous()
        };
        assert_debug_hides(&visitor, TOKEN.as_bytes());
        assert_debug_hides(&visitor, CSRF_TOKEN.as_bytes());
        assert!(format!("{visitor:?}").contains("Welcome back!"));
    }

    #[test]
    fn carts_cap_and_remove() {
        let mut cart = Cart::default();
        cart.add(1, 2);
        cart.add(1, 200);
        assert_eq!(
            cart.lines,
            vec![CartLine {
                product_id: 1,
                quantity: MAX_CART_QUANTITY
            }]
        );
        cart.set(1, 0);
        assert!(cart.lines.is_empty());
        let hostile = Cart {
            lines: vec![
                CartLine {
                    product_id: -1,
                    quantity: 5,
                },
                CartLine {
                    product_id: 2,
                    quantity: 1_000_000,
                },
            ],
        };
        assert!(hostile.sanitised().lines.is_empty());
    }
}
