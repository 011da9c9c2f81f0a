//! The catalogue: home grid with search, category filter and pages; the
//! product page; the cart.

use maud::{Markup, html};

use super::layout::{csrf, page};
use super::{Category, Product, ProductPage, money, urlencode};
use crate::session::Visitor;

fn query(q: &str, category: &str, page: u32) -> String {
    let mut parts = Vec::new();
    if !q.is_empty() {
        parts.push(format!("q={}", urlencode(q)));
    }
    if !category.is_empty() {
        parts.push(format!("category={}", urlencode(category)));
    }
    parts.push(format!("page={page}"));
    format!("/?{}", parts.join("&"))
}

fn stock_label(stock: i32) -> Markup {
    html! {
        @if stock == 0 { span.stock.out { "Out of stock" } }
        @else if stock < 5 { span.stock.low { "Only " (stock) " left" } }
        @else { span.stock { (stock) " in stock" } }
    }
}

pub fn home(
    visitor: &Visitor,
    products: &ProductPage,
    categories: &[Category],
    q: &str,
    category: &str,
) -> Markup {
    let pages = ((products.total + i64::from(products.per_page) - 1) / i64::from(products.per_page)).max(1);
    page(
        "Shop",
        visitor,
        html! {
            nav.categories aria-label="Categories" {
                a.selected[category.is_empty()] href=(query(q, "", 1)) { "All" }
                @for c in categories {
                    a.selected[c.slug == category] href=(query(q, &c.slug, 1)) { (c.name) }
                }
            }
            @if !q.is_empty() {
                p.results { (products.total) " results for “" (q) "”" }
            }
            @if products.items.is_empty() {
                p.empty { "No products match." }
            }
            ul.grid {
                @for p in &products.items {
                    li.card {
                        a href={ "/products/" (p.id) } {
                            img src={ "/images/" (p.id) ".svg" } alt=(p.name) width="400" height="300";
                            h2 { (p.name) }
                        }
                        p.price { (money(p.price_cents)) }
                        (stock_label(p.stock))
                    }
                }
            }
            nav.pages aria-label="Pages" {
                @if products.page > 1 {
                    a rel="prev" href=(query(q, category, products.page - 1)) { "← Previous" }
                }
                span { "Page " (products.page) " of " (pages) }
                @if i64::from(products.page) < pages {
                    a rel="next" href=(query(q, category, products.page + 1)) { "Next →" }
                }
            }
        },
    )
}

pub fn product(visitor: &Visitor, p: &Product) -> Markup {
    page(
        &p.name,
        visitor,
        html! {
            article.product {
                img src={ "/images/" (p.id) ".svg" } alt=(p.name) width="400" height="300";
                div.details {
                    h1 { (p.name) }
                    p.price { (money(p.price_cents)) }
                    (stock_label(p.stock))
                    p { (p.description) }
                    p.sku { "SKU " (p.sku) " · " (p.category) }
                    @if p.stock > 0 {
                        form method="post" action="/cart/add" {
                            (csrf(visitor))
                            input type="hidden" name="product_id" value=(p.id);
                            label { "Quantity " input type="number" name="quantity" value="1" min="1" max=(p.stock.min(99)); }
                            button type="submit" { "Add to cart" }
                        }
                    }
                }
            }
        },
    )
}

/// A cart line with what the catalogue says about it now.
#[derive(Debug)]
pub struct CartRow {
    pub product: Product,
    pub quantity: i32,
}

pub fn cart(visitor: &Visitor, rows: &[CartRow], checkout_key: &str) -> Markup {
    let total: i64 = rows
        .iter()
        .map(|r| r.product.price_cents * i64::from(r.quantity))
        .sum();
    page(
        "Cart",
        visitor,
        html! {
            h1 { "Your cart" }
            @if rows.is_empty() {
                p.empty { "Your cart is empty. " a href="/" { "Browse the shop" } }
            } @else {
                table.cart {
                    thead { tr { th { "Product" } th { "Price" } th { "Quantity" } th { "Subtotal" } th {} } }
                    tbody {
                        @for row in rows {
                            tr {
                                td { a href={ "/products/" (row.product.id) } { (row.product.name) } }
                                td { (money(row.product.price_cents)) }
                                td {
                                    form.inline method="post" action="/cart/update" {
                                        (csrf(visitor))
                                        input type="hidden" name="product_id" value=(row.product.id);
                                        input type="number" name="quantity" value=(row.quantity) min="0" max="99" aria-label={ "Quantity of " (row.product.name) };
                                        button type="submit" { "Update" }
                                    }
                                }
                                td { (money(row.product.price_cents * i64::from(row.quantity))) }
                                td {
                                    form.inline method="post" action="/cart/remove" {
                                        (csrf(visitor))
                                        input type="hidden" name="product_id" value=(row.product.id);
                                        button.link type="submit" { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                    tfoot { tr { th colspan="3" { "Total" } th { (money(total)) } th {} } }
                }
                @if visitor.claims.is_some() {
                    form method="post" action="/checkout" {
                        (csrf(visitor))
                        input type="hidden" name="checkout_key" value=(checkout_key);
                        button.primary type="submit" { "Place order" }
                    }
                } @else {
                    p { a href="/login" { "Log in" } " to check out." }
                }
            }
        },
    )
}
