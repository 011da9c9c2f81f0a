//! The storefront's signed cart cookie, read by `Visitor::load` as every page
//! does, and written by `with_cart`.
//!
//! The cookie key (and the token key) are made when the process starts, so no
//! input carries a valid signature. Checks:
//! - `cart=<input>` (and whatever other cookies the input adds) reads as an
//!   empty cart and no session: an unsigned or forged cookie is ignored;
//! - the input signed with the key as the cart's value reads as a cart of
//!   well-formed lines only (products > 0, quantities 1 to 99, at most 50
//!   lines), each taken from what the value says, in its order; writing that
//!   cart with `with_cart` and reading it back gives the same cart;
//! - that signed cookie with one character changed verifies only if it still
//!   decodes to exactly the signed value, and otherwise reads as an empty cart.

#![no_main]

use std::sync::LazyLock;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use axum::response::IntoResponse;
use axum_extra::extract::SignedCookieJar;
use axum_extra::extract::cookie::{Cookie, Key};
use cloudshop_platform::jwt::{JwtSettings, JwtVerifier};
use cloudshop_storefront::session::{
    Cart, CookiePolicy, MAX_CART_LINES, MAX_CART_QUANTITY, Visitor, with_cart,
};
use http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;

struct Keys {
    cookies: Key,
    verifier: JwtVerifier,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("a fresh Ed25519 key");
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("the key just made");
    let public_key = pair.public_key().as_ref().to_vec();
    Keys {
        cookies: Key::generate(),
        verifier: JwtVerifier::new(&[public_key], &JwtSettings::default()),
    }
});

const POLICY: CookiePolicy = CookiePolicy { secure: false };

fuzz_target!(|data: &[u8]| {
    let keys = &*KEYS;
    if let Ok(forged) = HeaderValue::from_bytes(&[b"cart=", data].concat()) {
        let visitor = load(keys, forged);
        assert_eq!(visitor.cart, Cart::default(), "an unsigned cart was read");
        assert!(visitor.claims.is_none() && visitor.token.is_none());
    }

    let value = String::from_utf8_lossy(data).into_owned();
    let signed = SignedCookieJar::new(keys.cookies.clone()).add(Cookie::new("cart", value.clone()));
    let Some(sent) = cookie_header(signed) else {
        return;
    };
    let cart = load(keys, sent.clone()).cart;
    check_well_formed(&cart);
    let written: Cart = serde_json::from_str(&value).unwrap_or_default();
    let mut rest = written.lines.iter();
    assert!(
        cart.lines.iter().all(|line| rest.any(|w| w == line)),
        "{cart:?} is not taken from {written:?}"
    );
    let rewritten = cookie_header(with_cart(
        SignedCookieJar::new(keys.cookies.clone()),
        POLICY,
        &cart,
    ))
    .expect("with_cart writes a cookie");
    assert_eq!(load(keys, rewritten).cart, cart);

    let mut tampered = sent.as_bytes().to_vec();
    let pick = checksum(data);
    let at = usize::try_from(pick).expect("u32 fits usize") % tampered.len();
    let shift = u8::try_from(pick >> 24).expect("the top byte") % 93;
    // Any other visible ASCII character, so the header stays valid.
    let before = tampered[at];
    tampered[at] = if before.is_ascii_graphic() {
        b'!' + (before - b'!' + 1 + shift) % 94
    } else {
        b'A'
    };
    let tampered = HeaderValue::from_bytes(&tampered).expect("visible ASCII is a header value");
    let mut headers = HeaderMap::new();
    headers.insert(header::COOKIE, tampered.clone());
    if let Some(verified) = SignedCookieJar::from_headers(&headers, keys.cookies.clone()).get("cart") {
        assert_eq!(verified.value(), value, "a changed cookie verified: {tampered:?}");
    } else {
        assert_eq!(load(keys, tampered).cart, Cart::default());
    }
});

/// What a browser sends back for the jar's `Set-Cookie`: its `name=value`.
fn cookie_header(jar: SignedCookieJar) -> Option<HeaderValue> {
    let response = jar.into_response();
    let set_cookie = response.headers().get(header::SET_COOKIE)?.as_bytes();
    let pair = set_cookie.split(|&b| b == b';').next()?;
    HeaderValue::from_bytes(pair).ok()
}

fn load(keys: &Keys, cookie: HeaderValue) -> Visitor {
    let mut headers = HeaderMap::new();
    headers.insert(header::COOKIE, cookie);
    let jar = SignedCookieJar::from_headers(&headers, keys.cookies.clone());
    Visitor::load(jar, &keys.verifier, POLICY).1
}

fn check_well_formed(cart: &Cart) {
    assert!(cart.lines.len() <= MAX_CART_LINES, "{cart:?}");
    assert!(
        cart.lines
            .iter()
            .all(|l| l.product_id > 0 && (1..=MAX_CART_QUANTITY).contains(&l.quantity)),
        "{cart:?}"
    );
    assert!(cart.items() >= 0, "{cart:?}");
}

/// A number that depends on every input byte (FNV-1a), to pick the change.
fn checksum(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5, |acc, &b| {
        (acc ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}
