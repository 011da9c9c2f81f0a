//! Register, log in, log out.

use axum::Form;
use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{AppState, Shopper, capitalise};
use crate::gateway::ApiError;
use crate::pages::account;
use crate::session::{cleared, with_session};

#[derive(Debug, Deserialize)]
pub struct Credentials {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: secrecy::SecretString,
}

#[derive(Debug, Serialize)]
struct Body<'a> {
    email: &'a str,
    password: &'a str,
}

#[derive(Debug, Deserialize)]
struct Token {
    access_token: String,
}

pub async fn login_form(shopper: Shopper) -> Response {
    let markup = account::login(&shopper.visitor, "", None);
    shopper.render(markup)
}

pub async fn register_form(shopper: Shopper) -> Response {
    let markup = account::register(&shopper.visitor, "", None);
    shopper.render(markup)
}

async fn log_in(
    state: &AppState,
    shopper: &Shopper,
    email: &str,
    password: &secrecy::SecretString,
) -> Result<String, ApiError> {
    use secrecy::ExposeSecret;
    let body = Body {
        email,
        password: password.expose_secret(),
    };
    let token: Token = state
        .gateway
        .send(
            shopper.caller(),
            Method::POST,
            "/api/auth/login",
            Some(&body),
            None,
        )
        .await?;
    Ok(token.access_token)
}

pub async fn login(
    State(state): State<AppState>,
    shopper: Shopper,
    Form(form): Form<Credentials>,
) -> Response {
    let shopper = match shopper.check_csrf(&form.csrf) {
        Ok(shopper) => shopper,
        Err(refused) => return refused,
    };
    match log_in(&state, &shopper, &form.email, &form.password).await {
        Ok(token) => shopper
            .map_jar(|jar, policy| with_session(jar, policy, token))
            .redirect("/", Some("Welcome back!")),
        Err(ApiError::Refused { status, .. }) if status == 401 || status == 422 || status == 400 => {
            let markup = account::login(&shopper.visitor, &form.email, Some("Wrong email or password."));
            shopper.render_status(StatusCode::UNAUTHORIZED, markup)
        }
        Err(ApiError::Refused { status: 429, .. }) => {
            let markup = account::login(
                &shopper.visitor,
                &form.email,
                Some("Too many attempts. Please wait a minute and try again."),
            );
            shopper.render_status(StatusCode::TOO_MANY_REQUESTS, markup)
        }
        Err(err) => shopper.failure(err),
    }
}

pub async fn register(
    State(state): State<AppState>,
    shopper: Shopper,
    Form(form): Form<Credentials>,
) -> Response {
    use secrecy::ExposeSecret;
    let shopper = match shopper.check_csrf(&form.csrf) {
        Ok(shopper) => shopper,
        Err(refused) => return refused,
    };
    let body = json!({"email": form.email, "password": form.password.expose_secret()});
    let created = state
        .gateway
        .send::<Value, _>(
            shopper.caller(),
            Method::POST,
            "/api/auth/register",
            Some(&body),
            None,
        )
        .await;
    match created {
        Ok(_) => match log_in(&state, &shopper, &form.email, &form.password).await {
            Ok(token) => shopper
                .map_jar(|jar, policy| with_session(jar, policy, token))
                .redirect("/", Some("Welcome to CloudShop! Your account is ready.")),
            Err(err) => shopper.failure(err),
        },
        Err(ApiError::Refused { status, message, .. }) if (400..500).contains(&status) && status != 429 => {
            let markup = account::register(&shopper.visitor, &form.email, Some(&capitalise(&message)));
            shopper.render_status(StatusCode::UNPROCESSABLE_ENTITY, markup)
        }
        Err(err) => shopper.failure(err),
    }
}

/// A form with nothing but its CSRF token.
#[derive(Debug, Deserialize)]
pub struct Plain {
    #[serde(default)]
    csrf: String,
}

impl Plain {
    pub fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn logout(shopper: Shopper, Form(form): Form<Plain>) -> Response {
    let shopper = match shopper.check_csrf(&form.csrf) {
        Ok(shopper) => shopper,
        Err(refused) => return refused,
    };
    shopper
        .map_jar(|jar, _| cleared(jar))
        .redirect("/", Some("You are logged out."))
}
