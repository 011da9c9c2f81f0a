//! The HTML, rendered with maud. No inline scripts or styles: one stylesheet,
//! forms that work without JavaScript.

pub mod account;
pub mod admin;
pub mod catalogue;
pub mod layout;
pub mod orders;

use serde::Deserialize;

/// A product as the API returns it.
#[derive(Debug, Clone, Deserialize)]
pub struct Product {
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub price_cents: i64,
    pub stock: i32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProductPage {
    pub items: Vec<Product>,
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Category {
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OrderLine {
    pub product_id: i64,
    pub name: String,
    pub quantity: i32,
    pub unit_price_cents: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Order {
    pub id: String,
    pub user_id: String,
    pub status: String,
    pub reason: Option<String>,
    pub total_cents: i64,
    pub lines: Vec<OrderLine>,
    pub created_at: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OrderPage {
    pub items: Vec<Order>,
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
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
