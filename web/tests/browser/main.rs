//! The storefront in a real browser: Debian's Chromium, headless, driven over
//! WebDriver (chromedriver) against the real storefront in front of the real
//! backend. Screenshots land in `target/screenshots/`.

mod account;
mod admin;
mod admin_orders;
mod browser;
mod cart;
mod catalogue;
mod cookies;
mod csrf;
mod headers;
mod shopper;
