//! The `products` and `categories` tables.

use cloudshop_api::paths;
pub use cloudshop_api::products::Category;
use cloudshop_api::products::{ProductInput, ProductPage};
use sqlx::{PgPool, Postgres, Transaction};
use time::OffsetDateTime;

use crate::cache::CHANNEL;
use crate::domain::{InvalidInput, Search};

/// A row of `products`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Product {
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub price_cents: i64,
    pub stock: i32,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A product as the API shows it: with the address of its picture.
pub type ProductView = cloudshop_api::products::Product;

impl From<Product> for ProductView {
    fn from(row: Product) -> Self {
        Self {
            image_url: paths::product_image(row.id),
            id: row.id,
            sku: row.sku,
            name: row.name,
            description: row.description,
            category: row.category,
            price_cents: row.price_cents,
            stock: row.stock,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

const COLUMNS: &str = "id, sku, name, description, category, price_cents, stock, created_at, updated_at";

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("a product with this sku already exists")]
    DuplicateSku,
    #[error("no such category")]
    UnknownCategory,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn write_error(err: sqlx::Error) -> WriteError {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            return WriteError::DuplicateSku;
        }
        if db.is_foreign_key_violation() {
            return WriteError::UnknownCategory;
        }
    }
    WriteError::Db(err)
}

/// Announces a change to every replica's cache, when the transaction commits.
pub async fn notify_change(tx: &mut Transaction<'_, Postgres>) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn search(pool: &PgPool, search: &Search) -> Result<ProductPage, sqlx::Error> {
    let filter = "($1::text IS NULL OR name ILIKE $1 ESCAPE '\\' OR description ILIKE $1 ESCAPE '\\') \
                  AND ($2::text IS NULL OR category = $2)";
    let pattern = search.pattern();
    let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM products WHERE {filter}"))
        .bind(&pattern)
        .bind(&search.category)
        .fetch_one(pool)
        .await?;
    let items: Vec<Product> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM products WHERE {filter} ORDER BY id LIMIT $3 OFFSET $4"
    ))
    .bind(&pattern)
    .bind(&search.category)
    .bind(search.paging.limit())
    .bind(search.paging.offset())
    .fetch_all(pool)
    .await?;
    Ok(ProductPage {
        items: items.into_iter().map(ProductView::from).collect(),
        page: search.paging.page,
        per_page: search.paging.per_page,
        total,
    })
}

pub async fn find(pool: &PgPool, id: i64) -> Result<Option<Product>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM products WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

pub async fn categories(pool: &PgPool) -> Result<Vec<Category>, sqlx::Error> {
    sqlx::query_as("SELECT slug, name FROM categories ORDER BY name")
        .fetch_all(pool)
        .await
}

pub async fn create(pool: &PgPool, input: &ProductInput) -> Result<Product, WriteError> {
    let mut tx = pool.begin().await?;
    let product = sqlx::query_as(&format!(
        "INSERT INTO products (sku, name, description, category, price_cents, stock) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    ))
    .bind(&input.sku)
    .bind(&input.name)
    .bind(&input.description)
    .bind(&input.category)
    .bind(input.price_cents)
    .bind(input.stock)
    .fetch_one(&mut *tx)
    .await
    .map_err(write_error)?;
    notify_change(&mut tx).await?;
    tx.commit().await?;
    Ok(product)
}

async fn update_row(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
    input: &ProductInput,
) -> Result<Option<Product>, WriteError> {
    sqlx::query_as(&format!(
        "UPDATE products SET sku = $2, name = $3, description = $4, category = $5, price_cents = $6, \
         stock = $7, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(&input.sku)
    .bind(&input.name)
    .bind(&input.description)
    .bind(&input.category)
    .bind(input.price_cents)
    .bind(input.stock)
    .fetch_optional(&mut **tx)
    .await
    .map_err(write_error)
}

/// Replaces every field of product `id`; `None` when there is no such product.
pub async fn replace(pool: &PgPool, id: i64, input: &ProductInput) -> Result<Option<Product>, WriteError> {
    let mut tx = pool.begin().await?;
    let product = update_row(&mut tx, id, input).await?;
    notify_change(&mut tx).await?;
    tx.commit().await?;
    Ok(product)
}

/// Applies `change` to the current product under a row lock, so concurrent
/// patches (say, of stock and of price) do not lose each other.
pub async fn patch(
    pool: &PgPool,
    id: i64,
    change: impl FnOnce(ProductInput) -> Result<ProductInput, InvalidInput>,
) -> Result<Option<Result<Product, InvalidInput>>, WriteError> {
    let mut tx = pool.begin().await?;
    let current: Option<Product> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM products WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(current) = current else {
        return Ok(None);
    };
    let input = match change(ProductInput {
        sku: current.sku,
        name: current.name,
        description: current.description,
        category: current.category,
        price_cents: current.price_cents,
        stock: current.stock,
    }) {
        Ok(input) => input,
        Err(invalid) => return Ok(Some(Err(invalid))),
    };
    let product = update_row(&mut tx, id, &input)
        .await?
        .ok_or(WriteError::Db(sqlx::Error::RowNotFound))?;
    notify_change(&mut tx).await?;
    tx.commit().await?;
    Ok(Some(Ok(product)))
}

/// Deletes product `id`; whether it existed.
pub async fn delete(pool: &PgPool, id: i64) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let deleted = sqlx::query("DELETE FROM products WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        > 0;
    notify_change(&mut tx).await?;
    tx.commit().await?;
    Ok(deleted)
}
