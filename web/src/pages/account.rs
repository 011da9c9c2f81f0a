//! Log in and register.

use maud::{Markup, html};

use super::layout::{csrf, page};
use crate::session::Visitor;

fn form(
    visitor: &Visitor,
    title: &str,
    action: &str,
    button: &str,
    email: &str,
    error: Option<&str>,
) -> Markup {
    page(
        title,
        visitor,
        html! {
            section.account {
                h1 { (title) }
                @if let Some(error) = error {
                    p.error role="alert" { (error) }
                }
                form method="post" action=(action) {
                    (csrf(visitor))
                    label { "Email" input type="email" name="email" value=(email) required autocomplete="email"; }
                    label { "Password" input type="password" name="password" required minlength="12" maxlength="128" autocomplete=(if action == "/login" { "current-password" } else { "new-password" }); }
                    button.primary type="submit" { (button) }
                }
            }
        },
    )
}

pub fn login(visitor: &Visitor, email: &str, error: Option<&str>) -> Markup {
    form(visitor, "Log in", "/login", "Log in", email, error)
}

pub fn register(visitor: &Visitor, email: &str, error: Option<&str>) -> Markup {
    form(
        visitor,
        "Create an account",
        "/register",
        "Register",
        email,
        error,
    )
}
