//! The catalogue a new shop starts with: five categories, thirty products.

use sqlx::PgPool;

/// (name, price in cents, description)
type SeedProduct = (&'static str, i64, &'static str);

/// Varied stock, a few items nearly sold out: the n-th product of a category
/// gets the n-th level, and the levels repeat for categories with more.
const STOCK_LEVELS: [i32; 6] = [25, 40, 3, 60, 12, 100];

/// (slug, name, products); a category may hold any number of products.
const CATEGORIES: [(&str, &str, &[SeedProduct]); 5] = [
    (
        "coffee",
        "Coffee & Tea",
        &[
            (
                "Single-origin espresso beans, 1 kg",
                2_490,
                "Chocolatey Colombian beans roasted for espresso.",
            ),
            (
                "Ceramic pour-over dripper",
                1_990,
                "A cone dripper that fits most mugs.",
            ),
            (
                "Hand grinder with burrs",
                4_950,
                "Conical steel burrs, twenty grind settings.",
            ),
            ("Loose-leaf green tea, 250 g", 1_250, "Sencha from a family farm."),
            (
                "Glass teapot with infuser",
                2_990,
                "Heat-resistant glass, 800 ml.",
            ),
            ("Milk frother", 1_599, "Whisks milk foam in fifteen seconds."),
        ],
    ),
    (
        "kitchen",
        "Kitchen",
        &[
            ("Cast-iron skillet, 26 cm", 3_900, "Pre-seasoned and oven safe."),
            (
                "Chef's knife, 20 cm",
                5_900,
                "Forged stainless steel with a full tang.",
            ),
            (
                "Oak cutting board",
                2_450,
                "End-grain oak, gentle on knife edges.",
            ),
            (
                "Set of three mixing bowls",
                2_199,
                "Nesting stainless-steel bowls.",
            ),
            ("Digital kitchen scale", 1_899, "Weighs to the gram, up to 5 kg."),
            ("Linen tea towels, pair", 1_490, "Absorbent stonewashed linen."),
        ],
    ),
    (
        "books",
        "Books",
        &[
            ("The Rust Programming Language", 3_995, "The book, in print."),
            (
                "Designing Data-Intensive Applications",
                4_499,
                "Reliable, scalable, maintainable systems.",
            ),
            (
                "Security Engineering",
                5_999,
                "Building dependable distributed systems.",
            ),
            (
                "The Phoenix Project",
                2_199,
                "A novel about IT, DevOps and helping your business win.",
            ),
            (
                "Site Reliability Engineering",
                4_250,
                "How Google runs production systems.",
            ),
            ("Thinking in Systems", 1_999, "A primer on systems thinking."),
        ],
    ),
    (
        "outdoor",
        "Outdoor",
        &[
            (
                "Insulated water bottle, 750 ml",
                2_790,
                "Keeps drinks cold for a day.",
            ),
            (
                "Packable rain jacket",
                8_900,
                "Waterproof, folds into its own pocket.",
            ),
            (
                "Trekking poles, pair",
                6_450,
                "Aluminium, adjustable, with cork grips.",
            ),
            ("Camping mug", 1_150, "Enamelled steel, 350 ml."),
            ("Head torch", 2_999, "300 lumens, rechargeable."),
            ("Merino wool socks", 1_890, "Cushioned hiking socks."),
        ],
    ),
    (
        "desk",
        "Desk",
        &[
            ("Mechanical keyboard", 11_900, "Tenkeyless with tactile switches."),
            ("Notebook, dotted, A5", 1_450, "Lay-flat binding, 160 pages."),
            ("Desk lamp", 4_990, "Warm-white LED with a dimmer."),
            ("Monitor stand", 3_900, "Bamboo, with a drawer."),
            ("Fountain pen", 2_650, "Steel nib, converter included."),
            ("Cable organiser set", 990, "Clips and ties for a tidy desk."),
        ],
    ),
];

/// Fills an empty catalogue; does nothing when any category exists.
pub async fn seed_if_empty(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // One seeder at a time across replicas.
    sqlx::query("LOCK TABLE categories IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM categories")
        .fetch_one(&mut *tx)
        .await?;
    if existing > 0 {
        return Ok(false);
    }
    for (slug, name, products) in CATEGORIES {
        sqlx::query("INSERT INTO categories (slug, name) VALUES ($1, $2)")
            .bind(slug)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        for row in rows(slug, products) {
            sqlx::query(
                "INSERT INTO products (sku, name, description, category, price_cents, stock) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(row.sku)
            .bind(row.name)
            .bind(row.description)
            .bind(slug)
            .bind(row.price_cents)
            .bind(row.stock)
            .execute(&mut *tx)
            .await?;
        }
    }
    crate::catalogue::notify_change(&mut tx).await?;
    tx.commit().await?;
    Ok(true)
}

/// One product row as seeded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SeedRow {
    sku: String,
    name: &'static str,
    description: &'static str,
    price_cents: i64,
    stock: i32,
}

/// The rows of a category's products: SKUs `SLUG-001`, `SLUG-002`, … in
/// order, stock from [`STOCK_LEVELS`]. Total for any number of products.
fn rows(slug: &str, products: &[SeedProduct]) -> Vec<SeedRow> {
    products
        .iter()
        .zip(STOCK_LEVELS.iter().cycle())
        .enumerate()
        .map(|(index, (&(name, price_cents, description), &stock))| SeedRow {
            sku: format!("{}-{:03}", slug.to_uppercase(), index + 1),
            name,
            description,
            price_cents,
            stock,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn the_seed_catalogue_keeps_its_skus_and_stock() {
        let coffee = rows(CATEGORIES[0].0, CATEGORIES[0].2);
        let derived: Vec<(&str, i32)> = coffee.iter().map(|r| (r.sku.as_str(), r.stock)).collect();
        assert_eq!(
            derived,
            [
                ("COFFEE-001", 25),
                ("COFFEE-002", 40),
                ("COFFEE-003", 3),
                ("COFFEE-004", 60),
                ("COFFEE-005", 12),
                ("COFFEE-006", 100),
            ]
        );
        let all: usize = CATEGORIES.iter().map(|(slug, _, p)| rows(slug, p).len()).sum();
        assert_eq!(all, 30);
    }

    #[test]
    fn a_category_with_more_products_than_stock_levels_seeds_them_all() {
        let many: Vec<SeedProduct> = (0..20).map(|_| ("Thing", 1_000, "A thing.")).collect();
        let rows = rows("desk", &many);
        assert_eq!(rows.len(), 20);
        let skus: HashSet<&str> = rows.iter().map(|r| r.sku.as_str()).collect();
        assert_eq!(skus.len(), 20, "SKUs are unique");
        assert_eq!(rows[6].sku, "DESK-007");
        assert_eq!(rows[19].sku, "DESK-020");
        // The levels repeat: the seventh product is stocked like the first.
        let stock: Vec<i32> = rows.iter().map(|r| r.stock).collect();
        assert_eq!(stock[..6], STOCK_LEVELS);
        assert_eq!(stock[6..12], STOCK_LEVELS);
        assert!(stock.iter().all(|&s| s > 0));
        assert!(rows.iter().all(|r| r.name == "Thing" && r.price_cents == 1_000));
    }
}
