//! The catalogue: `/api/products...` and `/api/categories`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::Timestamp;
use crate::paging::Page;

/// Highest price: 1,000,000.00 in cents.
pub const MAX_PRICE_CENTS: i64 = 100_000_000;
pub const MAX_STOCK: i32 = 1_000_000;
/// Longest search text, in characters.
pub const MAX_QUERY_CHARS: usize = 100;

/// A product as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Product {
    #[schema(minimum = 1)]
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub description: String,
    /// The category's slug.
    pub category: String,
    #[schema(minimum = 0)]
    pub price_cents: i64,
    #[schema(minimum = 0)]
    pub stock: i32,
    /// The product's picture (SVG), below the same API.
    pub image_url: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

pub type ProductPage = Page<Product>;

/// A complete product, as created with `POST` or replaced with `PUT`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    #[schema(pattern = "^[A-Z0-9-]{1,40}$")]
    pub sku: String,
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: String,
    #[schema(pattern = "^[a-z0-9-]{1,50}$")]
    pub category: String,
    #[schema(minimum = 0, maximum = 100_000_000)]
    pub price_cents: i64,
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub stock: i32,
}

/// A partial update (`PATCH`): only the fields present change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Z0-9-]{1,40}$")]
    pub sku: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[a-z0-9-]{1,50}$")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 100_000_000)]
    pub price_cents: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub stock: Option<i32>,
}

impl ProductPatch {
    /// `product` with the fields present in the patch replaced.
    pub fn apply(self, mut product: ProductInput) -> ProductInput {
        if let Some(sku) = self.sku {
            product.sku = sku;
        }
        if let Some(name) = self.name {
            product.name = name;
        }
        if let Some(description) = self.description {
            product.description = description;
        }
        if let Some(category) = self.category {
            product.category = category;
        }
        if let Some(price) = self.price_cents {
            product.price_cents = price;
        }
        if let Some(stock) = self.stock {
            product.stock = stock;
        }
        product
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Category {
    pub slug: String,
    pub name: String,
}

/// `GET /api/products` query parameters. Unknown parameters are refused (400).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProductQuery {
    /// Words in the name or description, matched literally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(max_length = 100)]
    pub q: Option<String>,
    /// A category slug.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(pattern = "^[a-z0-9-]{0,50}$")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 100_000)]
    pub page: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

/// A line that could not be reserved: what was asked and what is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Shortage {
    pub product_id: i64,
    /// The product's name (absent for a product that does not exist).
    pub name: Option<String>,
    pub requested: i32,
    pub available: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_query_parameters_are_refused() {
        let known: ProductQuery = serde_urlencoded::from_str("q=mug&per_page=12").expect("known");
        assert_eq!(known.per_page, Some(12));
        let unknown = serde_urlencoded::from_str::<ProductQuery>("page_size=12");
        assert!(unknown.is_err_and(|e| e.to_string().contains("page_size")));
    }

    #[test]
    fn a_patch_changes_only_what_it_names() {
        let product = ProductInput {
            sku: "MUG-1".into(),
            name: "Mug".into(),
            description: String::new(),
            category: "kitchen".into(),
            price_cents: 100,
            stock: 1,
        };
        let patch = ProductPatch {
            stock: Some(5),
            ..ProductPatch::default()
        };
        let patched = patch.apply(product.clone());
        assert_eq!(patched, ProductInput { stock: 5, ..product });
    }
}
