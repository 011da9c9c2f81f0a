//! Validated input: products as an admin writes them, and catalogue searches.

use cloudshop_api::paging::Paging;
pub use cloudshop_api::products::{
    MAX_PRICE_CENTS, MAX_QUERY_CHARS, MAX_STOCK, ProductInput, ProductPatch, ProductQuery,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

fn invalid(message: impl Into<String>) -> InvalidInput {
    InvalidInput(message.into())
}

pub fn is_category_slug(slug: &str) -> bool {
    (1..=50).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A product as written, checked.
pub trait Validate: Sized {
    /// Trims the text fields and checks every range.
    fn validate(self) -> Result<Self, InvalidInput>;
}

impl Validate for ProductInput {
    fn validate(mut self) -> Result<Self, InvalidInput> {
        self.sku = self.sku.trim().to_owned();
        self.name = self.name.trim().to_owned();
        self.description = self.description.trim().to_owned();
        if !(1..=40).contains(&self.sku.len())
            || !self
                .sku
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(invalid("sku must be 1 to 40 characters of A-Z, 0-9 and '-'"));
        }
        if !(1..=200).contains(&self.name.chars().count()) {
            return Err(invalid("name must be 1 to 200 characters"));
        }
        if self.name.chars().any(char::is_control) {
            return Err(invalid("name must not contain control characters"));
        }
        if self.description.chars().count() > 2_000 {
            return Err(invalid("description must be at most 2000 characters"));
        }
        // Line breaks and tabs are text; other control characters (NUL, which
        // PostgreSQL cannot store, among them) are not.
        if self
            .description
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(invalid(
                "description must not contain control characters other than line breaks and tabs",
            ));
        }
        if !is_category_slug(&self.category) {
            return Err(invalid("category must be a category slug"));
        }
        if !(0..=MAX_PRICE_CENTS).contains(&self.price_cents) {
            return Err(invalid(format!(
                "price_cents must be between 0 and {MAX_PRICE_CENTS}"
            )));
        }
        if !(0..=MAX_STOCK).contains(&self.stock) {
            return Err(invalid(format!("stock must be between 0 and {MAX_STOCK}")));
        }
        Ok(self)
    }
}

/// A validated search: `pattern` matches the words literally (`%`, `_` and
/// `\` are escaped for `ILIKE ... ESCAPE '\'`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Search {
    pub text: Option<String>,
    pub category: Option<String>,
    pub paging: Paging,
}

impl Search {
    pub fn parse(params: ProductQuery) -> Result<Self, InvalidInput> {
        let text = params.q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
        if text.as_ref().is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS) {
            return Err(invalid(format!("q must be at most {MAX_QUERY_CHARS} characters")));
        }
        if text.as_ref().is_some_and(|q| q.chars().any(char::is_control)) {
            return Err(invalid("q must not contain control characters"));
        }
        let category = params.category.filter(|c| !c.is_empty());
        if category.as_deref().is_some_and(|c| !is_category_slug(c)) {
            return Err(invalid("category must be a category slug"));
        }
        let paging = Paging::parse(params.page, params.per_page).map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            text,
            category,
            paging,
        })
    }

    /// The `ILIKE` pattern for the search text.
    pub fn pattern(&self) -> Option<String> {
        self.text.as_ref().map(|text| {
            let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            format!("%{escaped}%")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(q: &str) -> Search {
        Search::parse(ProductQuery {
            q: Some(q.into()),
            ..ProductQuery::default()
        })
        .expect("valid")
    }

    #[test]
    fn wildcards_are_matched_literally() {
        assert_eq!(
            search("50%_off\\").pattern().as_deref(),
            Some("%50\\%\\_off\\\\%")
        );
        assert_eq!(search("  ").pattern(), None);
    }

    #[test]
    fn control_characters_are_refused_where_postgres_or_pages_cannot_take_them() {
        let query = |q: &str| {
            Search::parse(ProductQuery {
                q: Some(q.into()),
                ..ProductQuery::default()
            })
        };
        assert!(query("mug\0").is_err());
        assert!(query("a\u{1b}[31m").is_err());
        assert!(query("café au lait").is_ok());
        let product = |name: &str, description: &str| ProductInput {
            sku: "MUG-1".into(),
            name: name.into(),
            description: description.into(),
            category: "kitchen".into(),
            price_cents: 100,
            stock: 1,
        };
        assert!(product("Mug\0", "").validate().is_err());
        assert!(product("Mug", "Holds\0 coffee").validate().is_err());
        assert!(
            product("Mug", "Holds coffee.\nDishwasher safe.\tTall")
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn paging_is_bounded() {
        let params = |page, per_page| ProductQuery {
            page: Some(page),
            per_page: Some(per_page),
            ..ProductQuery::default()
        };
        assert!(Search::parse(params(0, 10)).is_err());
        assert!(Search::parse(params(1, 0)).is_err());
        assert!(Search::parse(params(1, 101)).is_err());
        assert_eq!(Search::parse(params(3, 10)).map(|s| s.paging.offset()), Ok(20));
    }

    #[test]
    fn products_are_validated() {
        let good = ProductInput {
            sku: " MUG-1 ".into(),
            name: " Mug ".into(),
            description: String::new(),
            category: "kitchen".into(),
            price_cents: 1299,
            stock: 3,
        };
        let valid = good.clone().validate().expect("valid");
        assert_eq!((valid.sku.as_str(), valid.name.as_str()), ("MUG-1", "Mug"));
        for bad in [
            ProductInput {
                price_cents: -1,
                ..good.clone()
            },
            ProductInput {
                stock: -1,
                ..good.clone()
            },
            ProductInput {
                name: " ".into(),
                ..good.clone()
            },
            ProductInput {
                name: "n".repeat(201),
                ..good.clone()
            },
            ProductInput {
                sku: "lower".into(),
                ..good.clone()
            },
            ProductInput {
                category: "Bad Slug".into(),
                ..good.clone()
            },
            ProductInput {
                price_cents: MAX_PRICE_CENTS + 1,
                ..good.clone()
            },
        ] {
            assert!(bad.clone().validate().is_err(), "{bad:?}");
        }
    }
}
