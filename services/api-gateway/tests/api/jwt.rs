//! Forged and stale tokens are refused with 401 at the gateway and again by
//! the service itself.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cloudshop_api::paths;
use cloudshop_platform::jwt::{ed25519_raw_key, key_id};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rustls_pki_types::SubjectPublicKeyInfoDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};

use crate::helpers::{TestShop, spawn_shop};

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn claims(sub: &str) -> Value {
    json!({
        "sub": sub, "email": "x@example.com", "role": "customer",
        "iss": "https://auth.cloudshop.local", "aud": "cloudshop",
        "iat": now(), "nbf": now(), "exp": now() + 600,
    })
}

fn kid_of(public_pem: &str) -> String {
    let spki = SubjectPublicKeyInfoDer::from_pem_slice(public_pem.as_bytes()).expect("spki");
    key_id(ed25519_raw_key(spki.as_ref()).expect("ed25519"))
}

fn sign(private_pem: &str, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    let key = EncodingKey::from_ed_pem(private_pem.as_bytes()).expect("key");
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

struct Keys {
    private: String,
    public: String,
    kid: String,
}

fn real_keys(shop: &TestShop) -> Keys {
    let files = shop.env.files();
    let private = std::fs::read_to_string(files.jwt_signing_key().path()).expect("private");
    let public = std::fs::read_to_string(files.jwt_public_keys()).expect("public");
    let kid = kid_of(&public);
    Keys { private, public, kid }
}

async fn status_at_gateway_and_service(shop: &TestShop, token: &str) -> (u16, u16) {
    let gateway = shop
        .client
        .get(shop.url(paths::ME))
        .bearer_auth(token)
        .send()
        .await
        .expect("gateway");
    let service = shop
        .env
        .client_as("api-gateway")
        .get(format!("{}/me", shop.auth))
        .bearer_auth(token)
        .send()
        .await
        .expect("service");
    (gateway.status().as_u16(), service.status().as_u16())
}

#[tokio::test]
async fn a_valid_token_passes_both_checks() {
    let shop = spawn_shop().await;
    let (_, token) = shop.customer().await;
    assert_eq!(status_at_gateway_and_service(&shop, &token).await, (200, 200));
}

#[tokio::test]
async fn forged_and_stale_tokens_are_refused_at_the_gateway_and_the_service() {
    let shop = spawn_shop().await;
    let (_, valid) = shop.customer().await;
    let sub = {
        let payload = valid.split('.').nth(1).expect("payload");
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json");
        claims["sub"].as_str().expect("sub").to_owned()
    };
    let keys = real_keys(&shop);
    let with = |change: &dyn Fn(&mut Value)| {
        let mut c = claims(&sub);
        change(&mut c);
        sign(&keys.private, &keys.kid, &c)
    };
    // Sanity: the forging helper makes tokens the service accepts.
    assert_eq!(
        status_at_gateway_and_service(&shop, &with(&|_| {})).await,
        (200, 200)
    );

    let alg_none = {
        let header =
            URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT", "kid": keys.kid}).to_string());
        let payload = URL_SAFE_NO_PAD.encode(claims(&sub).to_string());
        format!("{header}.{payload}.")
    };
    let hs256_with_public_key = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(keys.kid.clone());
        jsonwebtoken::encode(
            &header,
            &claims(&sub),
            &EncodingKey::from_secret(keys.public.as_bytes()),
        )
        .expect("hs256")
    };
    let tampered = {
        let parts: Vec<&str> = valid.split('.').collect();
        let mut c: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
        c["role"] = json!("admin");
        format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(c.to_string()),
            parts[2]
        )
    };
    let unknown_kid = {
        let (private, public) = cloudshop_host::pki::jwt_signing_key().expect("key");
        sign(&private, &kid_of(&public), &claims(&sub))
    };
    let cases = [
        ("alg none", alg_none),
        ("HS256 signed with the public key", hs256_with_public_key),
        (
            "expired",
            with(&|c| {
                c["iat"] = json!(now() - 3600);
                c["nbf"] = json!(now() - 3600);
                c["exp"] = json!(now() - 600);
            }),
        ),
        ("not yet valid", with(&|c| c["nbf"] = json!(now() + 600))),
        (
            "wrong issuer",
            with(&|c| c["iss"] = json!("https://evil.example")),
        ),
        ("wrong audience", with(&|c| c["aud"] = json!("someone-else"))),
        ("tampered payload", tampered),
        ("unknown kid", unknown_kid),
        ("no kid", {
            let key = EncodingKey::from_ed_pem(keys.private.as_bytes()).expect("key");
            jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims(&sub), &key).expect("sign")
        }),
        ("garbage", "not.a.token".to_owned()),
    ];
    for (what, token) in cases {
        assert_eq!(
            status_at_gateway_and_service(&shop, &token).await,
            (401, 401),
            "{what}"
        );
    }
}
