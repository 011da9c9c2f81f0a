//! `GET /products?...`: the query string as the products service reads it (the
//! platform's `Query` extractor, then `Search::parse`), and the `ILIKE`
//! pattern made from the search words. The bytes are also tried directly as
//! the search words, which reaches the escaping without percent-decoding.
//!
//! Checks: a bad query is a 400; an accepted search is within its bounds
//! (trimmed words of at most 100 characters, a category slug, page and
//! per-page in range, an offset that does not overflow); the pattern is
//! `%words%` where every `%`, `_` and `\` of the words is escaped, so it
//! matches the words literally and nothing else.

#![no_main]

use std::sync::LazyLock;

use axum::extract::FromRequestParts;
use axum::response::IntoResponse;
use cloudshop_api::paging::{MAX_PAGE, MAX_PER_PAGE};
use cloudshop_platform::error::Query;
use cloudshop_products::domain::{ProductQuery, Search, is_category_slug};
use http::{Request, StatusCode};
use libfuzzer_sys::fuzz_target;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
});

fuzz_target!(|data: &[u8]| {
    let words = String::from_utf8_lossy(data).into_owned();
    check_search(Search::parse(ProductQuery {
        q: Some(words),
        ..ProductQuery::default()
    }));

    // Bytes that are no valid request target never reach the service.
    let Ok(uri) = http::Uri::try_from([b"/products?", data].concat()) else {
        return;
    };
    let Ok(request) = Request::get(uri).body(()) else {
        return;
    };
    let (mut parts, ()) = request.into_parts();
    match RUNTIME.block_on(Query::<ProductQuery>::from_request_parts(&mut parts, &())) {
        Ok(Query(params)) => check_search(Search::parse(params)),
        Err(rejection) => assert_eq!(rejection.into_response().status(), StatusCode::BAD_REQUEST),
    }
});

fn check_search(search: Result<Search, impl std::fmt::Debug>) {
    let Ok(search) = search else {
        return;
    };
    assert!((1..=MAX_PAGE).contains(&search.paging.page), "{search:?}");
    assert!((1..=MAX_PER_PAGE).contains(&search.paging.per_page), "{search:?}");
    assert!(search.paging.offset() >= 0, "{search:?}");
    if let Some(category) = &search.category {
        assert!(is_category_slug(category), "{search:?}");
    }
    match (&search.text, search.pattern()) {
        (None, None) => {}
        (Some(text), Some(pattern)) => {
            assert!(!text.is_empty() && text.trim() == text, "{search:?}");
            assert!(text.chars().count() <= 100, "{search:?}");
            assert_eq!(literal(&pattern).as_deref(), Some(text.as_str()), "{pattern:?}");
        }
        (text, pattern) => panic!("words {text:?} gave pattern {pattern:?}"),
    }
}

/// What `ILIKE pattern ESCAPE '\'` matches when the pattern is `%literal%`:
/// `None` when a wildcard or a dangling escape is anywhere else.
fn literal(pattern: &str) -> Option<String> {
    let inner = pattern.strip_prefix('%')?.strip_suffix('%')?;
    let mut literal = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                escaped @ ('\\' | '%' | '_') => literal.push(escaped),
                _ => return None,
            },
            '%' | '_' => return None,
            other => literal.push(other),
        }
    }
    Some(literal)
}
