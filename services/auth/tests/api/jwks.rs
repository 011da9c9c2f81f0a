//! The JWKS document: public Ed25519 keys only, each named by the `kid` the
//! issued tokens carry, and the key that verifies them.

use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::helpers::{PASSWORD, spawn_app, unique_email};

/// The members RFC 7517 and RFC 8037 give a public Ed25519 signing key.
const PUBLIC_MEMBERS: [&str; 6] = ["kty", "crv", "alg", "use", "kid", "x"];

fn decode_json(segment: &str) -> Value {
    let bytes = URL_SAFE_NO_PAD.decode(segment).expect("base64url segment");
    serde_json::from_slice(&bytes).expect("JSON segment")
}

#[tokio::test]
async fn the_jwks_publishes_only_the_public_key_that_verifies_issued_tokens() {
    let app = spawn_app().await;
    let email = unique_email("jwks");
    assert_eq!(app.register(&email).await.status(), 201);
    let login = app.login(&email, PASSWORD).await;
    assert_eq!(login.status(), 200);
    let login: Value = login.json().await.expect("json");
    let token = login["access_token"].as_str().expect("token");
    let segments: Vec<&str> = token.split('.').collect();
    assert_eq!(segments.len(), 3, "a JWS in compact form: {token}");
    let header = decode_json(segments[0]);
    assert_eq!(header["alg"], "EdDSA", "{header}");
    let kid = header["kid"].as_str().expect("the token names its key");

    let response = app
        .client
        .get(format!("{}/.well-known/jwks.json", app.base))
        .send()
        .await
        .expect("jwks");
    assert_eq!(response.status(), 200);
    let jwks: Value = response.json().await.expect("json");
    assert_eq!(
        jwks.as_object()
            .map(|o| o.keys().map(String::as_str).collect::<Vec<_>>()),
        Some(vec!["keys"]),
        "{jwks}"
    );
    let keys = jwks["keys"].as_array().expect("keys");
    assert!(!keys.is_empty(), "{jwks}");
    for key in keys {
        let members = key.as_object().expect("a key is an object");
        for name in members.keys() {
            assert!(
                PUBLIC_MEMBERS.contains(&name.as_str()),
                "member `{name}` is not a public one: {key}"
            );
        }
        assert!(!members.contains_key("d"), "private key published: {key}");
        assert_eq!(key["kty"], "OKP", "{key}");
        assert_eq!(key["crv"], "Ed25519", "{key}");
        assert_eq!(key["alg"], "EdDSA", "{key}");
        assert_eq!(key["use"], "sig", "{key}");
        // One signing key: every published key is the one the tokens name.
        assert_eq!(key["kid"], kid, "{key}");
        let x = key["x"].as_str().expect("x");
        let public = URL_SAFE_NO_PAD.decode(x).expect("x is base64url");
        assert_eq!(public.len(), 32, "an Ed25519 public key: {key}");
    }

    // The key the token names verifies it.
    assert_eq!(keys.len(), 1, "{jwks}");
    let x = keys[0]["x"].as_str().expect("x");
    let public = URL_SAFE_NO_PAD.decode(x).expect("x");
    let signature = URL_SAFE_NO_PAD.decode(segments[2]).expect("signature");
    let signed = format!("{}.{}", segments[0], segments[1]);
    UnparsedPublicKey::new(&ED25519, public)
        .verify(signed.as_bytes(), &signature)
        .expect("the published key verifies the token");
}
