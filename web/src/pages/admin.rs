//! Admin pages: products (create, edit, stock, delete) and all orders (ship).

use maud::{Markup, html};

use super::layout::{csrf, page};
use super::orders::status;
use super::{Category, OrderPage, Product, money, short_id};
use crate::session::Visitor;

fn product_fields(product: Option<&Product>, categories: &[Category]) -> Markup {
    html! {
        label { "SKU" input type="text" name="sku" required pattern="[A-Z0-9\\-]{1,40}" value=[product.map(|p| p.sku.as_str())]; }
        label { "Name" input type="text" name="name" required maxlength="200" value=[product.map(|p| p.name.as_str())]; }
        label { "Description" textarea name="description" maxlength="2000" { (product.map_or("", |p| p.description.as_str())) } }
        label { "Category"
            select name="category" {
                @for c in categories {
                    option value=(c.slug) selected[product.is_some_and(|p| p.category == c.slug)] { (c.name) }
                }
            }
        }
        label { "Price (cents)" input type="number" name="price_cents" min="0" required value=[product.map(|p| p.price_cents)]; }
        label { "Stock" input type="number" name="stock" min="0" required value=[product.map(|p| p.stock)]; }
    }
}

pub fn products(
    visitor: &Visitor,
    products: &[Product],
    categories: &[Category],
    error: Option<&str>,
) -> Markup {
    page(
        "Admin · Products",
        visitor,
        html! {
            h1 { "Products" }
            p { a href="/admin/orders" { "All orders →" } }
            @if let Some(error) = error {
                p.error role="alert" { (error) }
            }
            table.admin {
                thead { tr { th { "SKU" } th { "Name" } th { "Price" } th { "Stock" } th {} } }
                tbody {
                    @for p in products {
                        tr {
                            td { (p.sku) }
                            td { a href={ "/admin/products/" (p.id) } { (p.name) } }
                            td { (money(p.price_cents)) }
                            td {
                                form.inline method="post" action={ "/admin/products/" (p.id) "/stock" } {
                                    (csrf(visitor))
                                    input type="number" name="stock" min="0" value=(p.stock) aria-label={ "Stock of " (p.name) };
                                    button type="submit" { "Set stock" }
                                }
                            }
                            td {
                                form.inline method="post" action={ "/admin/products/" (p.id) "/delete" } {
                                    (csrf(visitor))
                                    button.link type="submit" { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "New product" }
            form.stacked method="post" action="/admin/products" {
                (csrf(visitor))
                (product_fields(None, categories))
                button.primary type="submit" { "Create product" }
            }
        },
    )
}

pub fn edit(visitor: &Visitor, product: &Product, categories: &[Category], error: Option<&str>) -> Markup {
    page(
        "Admin · Edit product",
        visitor,
        html! {
            h1 { "Edit " (product.name) }
            @if let Some(error) = error {
                p.error role="alert" { (error) }
            }
            form.stacked method="post" action={ "/admin/products/" (product.id) } {
                (csrf(visitor))
                (product_fields(Some(product), categories))
                button.primary type="submit" { "Save" }
            }
        },
    )
}

pub fn orders(visitor: &Visitor, orders: &OrderPage) -> Markup {
    page(
        "Admin · Orders",
        visitor,
        html! {
            h1 { "All orders" }
            table.admin {
                thead { tr { th { "Order" } th { "Customer" } th { "Status" } th { "Total" } th {} } }
                tbody {
                    @for order in &orders.items {
                        tr {
                            td { (short_id(&order.id)) }
                            td { (short_id(&order.user_id)) }
                            td { (status(order)) }
                            td { (money(order.total_cents)) }
                            td {
                                @if order.status.is_open() {
                                    form.inline method="post" action={ "/admin/orders/" (order.id) "/ship" } {
                                        (csrf(visitor))
                                        button type="submit" { "Ship" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}
