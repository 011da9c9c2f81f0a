//! The frame of every page: header with search, cart and account, the flash
//! message, the footer.

use maud::{DOCTYPE, Markup, html};

use crate::session::Visitor;

pub fn page(title: &str, visitor: &Visitor, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · CloudShop" }
                link rel="stylesheet" href="/static/style.css";
                link rel="icon" href="/static/favicon.svg" type="image/svg+xml";
            }
            body {
                header.top {
                    a.brand href="/" { "CloudShop" }
                    form.search method="get" action="/" role="search" {
                        input type="search" name="q" placeholder="Search products" aria-label="Search products";
                        button type="submit" { "Search" }
                    }
                    nav {
                        a href="/cart" { "Cart (" (visitor.cart.items()) ")" }
                        @if let Some(claims) = &visitor.claims {
                            a href="/orders" { "Orders" }
                            @if visitor.is_admin() {
                                a href="/admin/products" { "Admin" }
                            }
                            form.inline method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(visitor.csrf);
                                button.link type="submit" title=(claims.email) { "Log out" }
                            }
                        } @else {
                            a href="/login" { "Log in" }
                            a href="/register" { "Register" }
                        }
                    }
                }
                main {
                    @if let Some(message) = &visitor.flash {
                        p.flash role="status" { (message) }
                    }
                    (body)
                }
                footer { "CloudShop — a reference shop, signed and verified end to end." }
            }
        }
    }
}

/// A message page: errors, refusals, outages.
pub fn message(title: &str, visitor: &Visitor, text: &str) -> Markup {
    page(
        title,
        visitor,
        html! {
            section.message {
                h1 { (title) }
                p.error role="alert" { (text) }
                p { a href="/" { "Back to the shop" } }
            }
        },
    )
}

/// The CSRF field every form carries.
pub fn csrf(visitor: &Visitor) -> Markup {
    html! { input type="hidden" name="csrf" value=(visitor.csrf); }
}
