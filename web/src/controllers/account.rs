//! Register, log in, log out.

use axum::extract::State;
use axum::response::Response;
use cloudshop_api::auth::{Credentials as Login, Password, Registration};
use http::StatusCode;
use serde::Deserialize;

use super::{AppState, CsrfForm, Shopper, capitalise};
use crate::gateway::{ClientError, refusal};
use crate::pages::account;
use crate::session::{cleared, device_token, with_device, with_session};

#[derive(Debug, Deserialize)]
pub struct Credentials {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: secrecy::SecretString,
}

pub async fn login_form(shopper: Shopper) -> Response {
    let markup = account::login(&shopper.visitor, "", None);
    shopper.render(markup)
}

pub async fn register_form(shopper: Shopper) -> Response {
    let markup = account::register(&shopper.visitor, "", None);
    shopper.render(markup)
}

/// Logs in with the browser's device token, if it has one; on success the
/// shopper's cookies hold the new session and device token.
async fn log_in(
    state: &AppState,
    shopper: Shopper,
    email: &str,
    password: &secrecy::SecretString,
) -> Result<Shopper, (Shopper, ClientError)> {
    let login =
        Login::new(email, Password::from(password.clone())).with_device_token(device_token(&shopper.jar));
    match state.gateway.login(shopper.caller(), &login).await {
        Ok(token) => Ok(shopper.map_jar(|jar, policy| {
            let jar = match &token.device_token {
                Some(device) => with_device(jar, policy, device),
                None => jar,
            };
            with_session(jar, policy, token.access_token)
        })),
        Err(err) => Err((shopper, err)),
    }
}

pub async fn login(
    State(state): State<AppState>,
    shopper: Shopper,
    CsrfForm(form): CsrfForm<Credentials>,
) -> Response {
    match log_in(&state, shopper, &form.email, &form.password).await {
        Ok(shopper) => shopper.redirect("/", Some("Welcome back!")),
        Err((shopper, err))
            if [
                StatusCode::UNAUTHORIZED,
                StatusCode::UNPROCESSABLE_ENTITY,
                StatusCode::BAD_REQUEST,
            ]
            .contains(&err.status()) =>
        {
            let markup = account::login(&shopper.visitor, &form.email, Some("Wrong email or password."));
            shopper.render_status(StatusCode::UNAUTHORIZED, markup)
        }
        Err((shopper, err)) if err.status() == StatusCode::TOO_MANY_REQUESTS => {
            let markup = account::login(
                &shopper.visitor,
                &form.email,
                Some("Too many attempts. Please wait a minute and try again."),
            );
            shopper.render_status(StatusCode::TOO_MANY_REQUESTS, markup)
        }
        Err((shopper, err)) => shopper.failure(err),
    }
}

pub async fn register(
    State(state): State<AppState>,
    shopper: Shopper,
    CsrfForm(form): CsrfForm<Credentials>,
) -> Response {
    let registration = Registration {
        email: form.email.clone(),
        password: Password::from(form.password.clone()),
    };
    let created = state.gateway.register(shopper.caller(), &registration).await;
    match created {
        Ok(_) => match log_in(&state, shopper, &form.email, &form.password).await {
            Ok(shopper) => shopper.redirect("/", Some("Welcome to CloudShop! Your account is ready.")),
            Err((shopper, err)) => shopper.failure(err),
        },
        Err(err) => match refusal(&err) {
            Some((_, message)) => {
                let markup = account::register(&shopper.visitor, &form.email, Some(&capitalise(message)));
                shopper.render_status(StatusCode::UNPROCESSABLE_ENTITY, markup)
            }
            None => shopper.failure(err),
        },
    }
}

pub async fn logout(shopper: Shopper, CsrfForm(()): CsrfForm) -> Response {
    shopper
        .map_jar(|jar, _| cleared(jar))
        .redirect("/", Some("You are logged out."))
}

#[cfg(test)]
mod tests {
    use cloudshop_host::redaction::assert_debug_hides;

    use super::*;

    #[test]
    fn debug_output_of_the_form_holds_none_of_the_password() {
        let password = "Pw-form-distinctive-5zKq8VmR";
        let form = Credentials {
            email: "ada@example.com".into(),
            password: password.to_owned().into(),
        };
        assert_debug_hides(&form, password.as_bytes());
        assert_debug_hides(&CsrfForm(form), password.as_bytes());
    }
}
