//! Order history and order detail.

use maud::{Markup, html};

use super::layout::{csrf, page};
use super::{Order, OrderPage, money, short_id};
use crate::session::Visitor;

pub fn status(order: &Order) -> Markup {
    html! { span class={ "status " (order.status.as_str().to_lowercase()) } { (order.status) } }
}

pub fn list(visitor: &Visitor, orders: &OrderPage) -> Markup {
    page(
        "Your orders",
        visitor,
        html! {
            h1 { "Your orders" }
            @if orders.items.is_empty() {
                p.empty { "No orders yet." }
            } @else {
                table.orders {
                    thead { tr { th { "Order" } th { "Placed" } th { "Status" } th { "Total" } } }
                    tbody {
                        @for order in &orders.items {
                            tr {
                                td { a href={ "/orders/" (order.id) } { (short_id(&order.id)) } }
                                td { (order.created_at.date()) }
                                td { (status(order)) }
                                td { (money(order.total_cents)) }
                            }
                        }
                    }
                }
            }
        },
    )
}

pub fn detail(visitor: &Visitor, order: &Order) -> Markup {
    page(
        "Order",
        visitor,
        html! {
            h1 { "Order " (short_id(&order.id)) }
            p { "Status: " (status(order)) }
            @if let Some(reason) = &order.reason {
                p.reason { (reason) }
            }
            table.order {
                thead { tr { th { "Product" } th { "Quantity" } th { "Price" } th { "Subtotal" } } }
                tbody {
                    @for line in &order.lines {
                        tr {
                            td { a href={ "/products/" (line.product_id) } { (line.name) } }
                            td { (line.quantity) }
                            td { (money(line.unit_price_cents)) }
                            td { (money(line.unit_price_cents * i64::from(line.quantity))) }
                        }
                    }
                }
                tfoot { tr { th colspan="3" { "Total" } th { (money(order.total_cents)) } } }
            }
            @if order.status.is_open() {
                form method="post" action={ "/orders/" (order.id) "/cancel" } {
                    (csrf(visitor))
                    button type="submit" { "Cancel order" }
                }
            }
        },
    )
}
