//! Access tokens: `JwtVerifier::verify`, as the gateway and every service run
//! it, on arbitrary strings and on tokens this target signs.
//!
//! The verifier trusts one Ed25519 key made when the process starts, so no
//! input, seed or saved corpus entry can carry its signature. Checks:
//! - the input as a token never verifies (that would be a forgery);
//! - the input signed with the key (a first line, if any, as the header, the
//!   rest as the claims) verifies only with an EdDSA header naming the key's
//!   `kid`, the configured issuer and audience, a current `exp` and `nbf`, and
//!   then yields exactly the signed claims;
//! - that signed token with one character changed, or cut short, never
//!   verifies.

#![no_main]

use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cloudshop_platform::jwt::{Claims, JwtSettings, JwtVerifier, key_id};
use jsonwebtoken::Algorithm;
use libfuzzer_sys::fuzz_target;

struct Trusted {
    pair: Ed25519KeyPair,
    kid: String,
    settings: JwtSettings,
    verifier: JwtVerifier,
}

static TRUSTED: LazyLock<Trusted> = LazyLock::new(|| {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("a fresh Ed25519 key");
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("the key just made");
    let public_key = pair.public_key().as_ref().to_vec();
    let settings = JwtSettings::default();
    let verifier = JwtVerifier::new(std::slice::from_ref(&public_key), &settings);
    Trusted {
        pair,
        kid: key_id(&public_key),
        settings,
        verifier,
    }
});

fuzz_target!(|data: &[u8]| {
    let trusted = &*TRUSTED;
    let text = String::from_utf8_lossy(data);
    assert!(
        trusted.verifier.verify(&text).is_err(),
        "a token not signed with the key verified: {text:?}"
    );

    let standard_header = format!(r#"{{"alg":"EdDSA","typ":"JWT","kid":"{}"}}"#, trusted.kid);
    let (header, claims) = match data.iter().position(|&b| b == b'\n') {
        Some(newline) => (&data[..newline], &data[newline + 1..]),
        None => (standard_header.as_bytes(), data),
    };
    let token = sign(&trusted.pair, header, claims);
    let before = unix_now();
    let verified = trusted.verifier.verify(&token);
    let after = unix_now();
    if let Ok(verified) = verified {
        let header = jsonwebtoken::decode_header(&token).expect("a verified token has a header");
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), Some(trusted.kid.as_str()));
        assert_eq!(verified.iss, trusted.settings.issuer);
        assert_eq!(verified.aud, trusted.settings.audience);
        let leeway = i64::try_from(trusted.settings.leeway_secs).expect("a small leeway");
        assert!(verified.exp >= before - leeway, "expired: {verified:?}");
        assert!(verified.nbf <= after + leeway, "not yet valid: {verified:?}");
        let signed: Claims = serde_json::from_slice(claims).expect("verified claims parse");
        assert_eq!(
            serde_json::to_value(&verified).expect("claims serialise"),
            serde_json::to_value(&signed).expect("claims serialise"),
        );
    }

    let mut tampered = token.clone().into_bytes();
    let pick = checksum(data);
    let at = usize::try_from(pick).expect("u32 fits usize") % tampered.len();
    let shift = u8::try_from(pick >> 24).expect("the top byte") % 94;
    // Any other printable ASCII character, so the token stays a string.
    tampered[at] = b' ' + (tampered[at] - b' ' + 1 + shift) % 95;
    let tampered = String::from_utf8(tampered).expect("ASCII stays UTF-8");
    assert_ne!(tampered, token);
    assert!(
        trusted.verifier.verify(&tampered).is_err(),
        "a changed token verified: {tampered:?} (signed {token:?})"
    );
    assert!(trusted.verifier.verify(&token[..token.len() - 1]).is_err());
});

/// A compact JWS: `header.claims.signature`, each base64url without padding.
fn sign(pair: &Ed25519KeyPair, header: &[u8], claims: &[u8]) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = pair.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}

fn unix_now() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since_epoch.as_secs()).expect("seconds fit in i64")
}

/// A number that depends on every input byte (FNV-1a), to pick the change.
fn checksum(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5, |acc, &b| {
        (acc ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}
