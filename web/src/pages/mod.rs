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
/// The last eight hex digits of `id`. Order and user ids are UUIDv7,
/// whose leading digits are a timestamp shared by every id made in the same
/// minute or so; the tail is random, so it tells orders apart.
pub fn short_id(id: &uuid::Uuid) -> String {
    let text = id.simple().to_string();
    text[text.len() - 8..].to_owned()
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

    #[test]
    fn short_ids_tell_apart_orders_made_in_the_same_minute() {
        let ids: Vec<_> = (0..50).map(|_| uuid::Uuid::now_v7()).collect();
        let short: std::collections::HashSet<_> = ids.iter().map(super::short_id).collect();
        assert_eq!(short.len(), ids.len());
        let id = ids[0].simple().to_string();
        assert_eq!(super::short_id(&ids[0]), id[24..]);
    }
}
