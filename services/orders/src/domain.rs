//! A validated order request and its idempotency key.

use base64::Engine;
pub use cloudshop_api::orders::{Line, MAX_LINES, MAX_QUANTITY, OrderRequest};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidOrder(pub String);

/// The lines of an order: 1 to 100 products, each once (repeats merged),
/// quantities 1 to 1000, sorted by product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLines(Vec<Line>);

impl OrderLines {
    pub fn parse(request: OrderRequest) -> Result<Self, InvalidOrder> {
        if request.lines.is_empty() || request.lines.len() > MAX_LINES {
            return Err(InvalidOrder(format!(
                "an order has between 1 and {MAX_LINES} lines"
            )));
        }
        let mut lines: Vec<Line> = Vec::with_capacity(request.lines.len());
        for line in request.lines {
            if line.product_id <= 0 {
                return Err(InvalidOrder(format!("unknown product {}", line.product_id)));
            }
            if !(1..=MAX_QUANTITY).contains(&line.quantity) {
                return Err(InvalidOrder(format!(
                    "quantities are between 1 and {MAX_QUANTITY}"
                )));
            }
            match lines.iter_mut().find(|l| l.product_id == line.product_id) {
                Some(existing) => {
                    existing.quantity = existing
                        .quantity
                        .checked_add(line.quantity)
                        .filter(|q| *q <= MAX_QUANTITY)
                        .ok_or_else(|| InvalidOrder(format!("at most {MAX_QUANTITY} of one product")))?;
                }
                None => lines.push(line),
            }
        }
        lines.sort_by_key(|l| l.product_id);
        Ok(Self(lines))
    }

    pub fn lines(&self) -> &[Line] {
        &self.0
    }

    /// A digest of the normalised request: the same order gives the same hash
    /// whatever the line order or repetition.
    pub fn digest(&self) -> String {
        let canonical: Vec<String> = self
            .0
            .iter()
            .map(|l| format!("{}x{}", l.product_id, l.quantity))
            .collect();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.join(",").as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    }
}

/// An `Idempotency-Key` header: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(value: Option<&http::HeaderValue>) -> Result<Self, InvalidOrder> {
        let value = value
            .ok_or_else(|| InvalidOrder("the Idempotency-Key header is required".into()))?
            .to_str()
            .map_err(|_| InvalidOrder("Idempotency-Key must be visible ASCII".into()))?;
        if !(1..=255).contains(&value.len()) || !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidOrder(
                "Idempotency-Key must be 1 to 255 visible ASCII characters".into(),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(lines: &[(i64, i32)]) -> OrderRequest {
        OrderRequest {
            lines: lines
                .iter()
                .map(|&(product_id, quantity)| Line { product_id, quantity })
                .collect(),
        }
    }

    #[test]
    fn repeats_merge_and_order_does_not_change_the_digest() {
        let a = OrderLines::parse(request(&[(2, 1), (1, 2), (2, 3)])).expect("valid");
        let b = OrderLines::parse(request(&[(1, 2), (2, 4)])).expect("valid");
        assert_eq!(a, b);
        assert_eq!(a.digest(), b.digest());
        let c = OrderLines::parse(request(&[(1, 2), (2, 5)])).expect("valid");
        assert_ne!(a.digest(), c.digest());
    }

    #[test]
    fn bad_orders_are_refused() {
        for bad in [
            request(&[]),
            request(&[(1, 0)]),
            request(&[(1, -1)]),
            request(&[(0, 1)]),
            request(&[(1, 1001)]),
            request(&[(1, 600), (1, 600)]),
            request(&vec![(1, 1); 101]),
        ] {
            assert!(OrderLines::parse(bad.clone()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn idempotency_keys_are_checked() {
        assert!(IdempotencyKey::parse(None).is_err());
        assert!(IdempotencyKey::parse(Some(&http::HeaderValue::from_static("has space"))).is_err());
        assert!(IdempotencyKey::parse(Some(&http::HeaderValue::from_static("a-key_1"))).is_ok());
    }
}
