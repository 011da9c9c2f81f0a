//! The HTML, rendered with maud. No inline scripts or styles: one stylesheet,
//! forms that work without JavaScript.

pub mod account;
pub mod admin;
pub mod catalogue;
pub mod layout;
pub mod orders;

/// The API's bodies, as the pages show them.
pub use cloudshop_api::orders::{Order, OrderLine, OrderPage, OrderStatus};
pub use cloudshop_api::products::{Category, Product, ProductPage};

/// The first eight characters of an id: enough to tell orders apart on a page.
pub fn short_id(id: &uuid::Uuid) -> String {
    let mut text = id.to_string();
    text.truncate(8);
    text
}

/// Percent-encodes a query-string value.
pub fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Cents as money: `1250` → `€12.50`.
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}€{}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    #[test]
    fn money_is_exact() {
        assert_eq!(super::money(0), "€0.00");
        assert_eq!(super::money(1250), "€12.50");
        assert_eq!(super::money(100_000_000), "€1000000.00");
    }
}
