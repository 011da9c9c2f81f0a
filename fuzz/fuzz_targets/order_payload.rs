//! `POST /orders`: the body as the orders service reads it (the platform's
//! `Json` extractor, then `OrderLines::parse`), and the same bytes as an
//! `Idempotency-Key` header.
//!
//! Checks: a malformed body is a 4xx, never a 5xx; an accepted order has 1 to
//! 100 lines, one per product, sorted, with quantities 1 to 1000 that add up
//! to what the request asked for; the line order of the request changes
//! neither the result nor its digest; parsing is idempotent; a refusal has a
//! reason the request shows.

#![no_main]

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::body::Body;
use axum::extract::FromRequest;
use axum::response::IntoResponse;
use cloudshop_orders::domain::{IdempotencyKey, Line, MAX_LINES, MAX_QUANTITY, OrderLines, OrderRequest};
use cloudshop_platform::error::Json;
use http::{HeaderValue, Request, StatusCode, header};
use libfuzzer_sys::fuzz_target;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
});

fuzz_target!(|data: &[u8]| {
    check_idempotency_key(data);
    let request = Request::post("/orders")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(data.to_vec()))
        .expect("a request with a static method, uri and header");
    match RUNTIME.block_on(Json::<OrderRequest>::from_request(request, &())) {
        Ok(Json(order)) => check_order(order),
        Err(rejection) => {
            let status = rejection.into_response().status();
            assert!(
                [
                    StatusCode::BAD_REQUEST,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    StatusCode::UNPROCESSABLE_ENTITY,
                ]
                .contains(&status),
                "a malformed body answered {status}"
            );
        }
    }
});

fn check_order(order: OrderRequest) {
    let asked = order.lines.clone();
    match OrderLines::parse(order) {
        Ok(lines) => {
            let got = lines.lines();
            assert!((1..=MAX_LINES).contains(&got.len()), "{} lines", got.len());
            assert!(
                got.windows(2).all(|w| w[0].product_id < w[1].product_id),
                "lines not one per product in order: {got:?}"
            );
            assert!(got.iter().all(|l| l.product_id > 0), "{got:?}");
            assert!(
                got.iter().all(|l| (1..=MAX_QUANTITY).contains(&l.quantity)),
                "{got:?}"
            );
            let normalised: BTreeMap<i64, i64> = got
                .iter()
                .map(|l| (l.product_id, i64::from(l.quantity)))
                .collect();
            assert_eq!(normalised, totals(&asked), "quantities lost or invented");

            let mut reversed = asked.clone();
            reversed.reverse();
            let again = OrderLines::parse(OrderRequest { lines: reversed })
                .expect("the same lines in another order are accepted too");
            assert_eq!(again, lines);
            assert_eq!(again.digest(), lines.digest());

            let reparsed =
                OrderLines::parse(OrderRequest { lines: got.to_vec() }).expect("a normalised order is valid");
            assert_eq!(reparsed, lines);
        }
        Err(_) => {
            let justified = asked.is_empty()
                || asked.len() > MAX_LINES
                || asked
                    .iter()
                    .any(|l| l.product_id <= 0 || !(1..=MAX_QUANTITY).contains(&l.quantity))
                || totals(&asked).values().any(|&q| q > i64::from(MAX_QUANTITY));
            assert!(justified, "a valid order was refused: {asked:?}");
        }
    }
}

/// The quantity asked for each product, added up without overflow.
fn totals(lines: &[Line]) -> BTreeMap<i64, i64> {
    let mut totals = BTreeMap::new();
    for line in lines {
        *totals.entry(line.product_id).or_insert(0) += i64::from(line.quantity);
    }
    totals
}

fn check_idempotency_key(data: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let expected = (1..=255).contains(&data.len()) && data.iter().all(u8::is_ascii_graphic);
    match IdempotencyKey::parse(Some(&value)) {
        Ok(key) => {
            assert!(expected, "accepted {data:?}");
            assert_eq!(key.as_str().as_bytes(), data);
        }
        Err(_) => assert!(!expected, "refused {data:?}"),
    }
}
