//! The storefront in a real browser: Debian's Chromium, headless, driven over
//! WebDriver (chromedriver) against the real storefront in front of the real
//! backend. Screenshots land in `target/screenshots/`.

mod admin;
mod browser;
mod cookies;
mod headers;
mod shopper;
