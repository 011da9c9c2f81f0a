//! Browsing the catalogue: the category filter and the pages, each page's
//! cards checked against what the products API lists.

use cloudshop_api::client::Caller;
use cloudshop_api::paging::MAX_PER_PAGE;
use cloudshop_api::products::ProductQuery;

use crate::browser::{Browser, Shop, spawn_shop};

/// The names the API lists for a search and a category, in catalogue order.
async fn listed(shop: &Shop, q: Option<&str>, category: Option<&str>) -> Vec<String> {
    let query = ProductQuery {
        q: q.map(str::to_owned),
        category: category.map(str::to_owned),
        page: Some(1),
        per_page: Some(MAX_PER_PAGE),
    };
    let page = shop
        .backend
        .api
        .products(Caller::anonymous(), &query)
        .await
        .expect("products");
    assert!(
        page.total <= i64::from(MAX_PER_PAGE),
        "one API page holds them all"
    );
    page.items.into_iter().map(|p| p.name).collect()
}

async fn cards(browser: &Browser) -> Vec<String> {
    browser.texts("li.card h2").await
}

#[tokio::test]
async fn the_category_filter_shows_that_category_alone_and_keeps_the_search() {
    let shop = spawn_shop().await;
    let browser = Browser::start().await;
    browser.goto(&shop.url).await;
    assert_eq!(browser.text("nav.categories a.selected").await, "All");
    let categories = shop
        .backend
        .api
        .categories(Caller::anonymous())
        .await
        .expect("categories");
    let mut links = vec!["All".to_owned()];
    links.extend(categories.iter().map(|c| c.name.clone()));
    assert_eq!(browser.texts("nav.categories a").await, links);

    browser
        .click("nav.categories a[href='/?category=books&page=1']")
        .await;
    assert_eq!(browser.text("nav.categories a.selected").await, "Books");
    let books = listed(&shop, None, Some("books")).await;
    assert!(!books.is_empty());
    assert_eq!(cards(&browser).await, books);
    assert_eq!(browser.text("nav.pages span").await, "Page 1 of 1");

    // A search spans the categories; a category link then narrows it and
    // keeps the words.
    browser.fill("input[name=q]", "steel").await;
    browser.click("form.search button").await;
    assert_eq!(browser.text("nav.categories a.selected").await, "All");
    let steel = listed(&shop, Some("steel"), None).await;
    assert_eq!(cards(&browser).await, steel);
    browser
        .click("nav.categories a[href='/?q=steel&category=kitchen&page=1']")
        .await;
    assert_eq!(browser.text("nav.categories a.selected").await, "Kitchen");
    let steel_in_kitchen = listed(&shop, Some("steel"), Some("kitchen")).await;
    assert!(
        !steel_in_kitchen.is_empty() && steel_in_kitchen.len() < steel.len(),
        "the filter narrows a search that spans categories: {steel_in_kitchen:?} of {steel:?}"
    );
    assert_eq!(cards(&browser).await, steel_in_kitchen);
    assert!(
        browser
            .text("p.results")
            .await
            .starts_with(&format!("{} results", steel_in_kitchen.len())),
        "the count is the filtered one"
    );

    // "All" drops the category, not the search.
    browser.click("nav.categories a[href='/?q=steel&page=1']").await;
    assert_eq!(cards(&browser).await, steel);
    browser.assert_clean_console().await;
    browser.close().await;
}

#[tokio::test]
async fn the_pages_walk_the_catalogue_once_each_and_keep_the_category() {
    let shop = spawn_shop().await;
    let everything = listed(&shop, None, None).await;
    assert_eq!(everything.len(), 30, "the seed catalogue");
    let browser = Browser::start().await;
    browser.goto(&shop.url).await;
    assert_eq!(browser.text("nav.pages span").await, "Page 1 of 3");
    assert_eq!(browser.count("nav.pages a[rel=prev]").await, 0);
    let mut seen = cards(&browser).await;
    assert_eq!(seen.len(), 12);

    browser.click("nav.pages a[rel=next]").await;
    assert_eq!(browser.text("nav.pages span").await, "Page 2 of 3");
    let second = cards(&browser).await;
    seen.extend(second.iter().cloned());
    browser.click("nav.pages a[rel=next]").await;
    assert_eq!(browser.text("nav.pages span").await, "Page 3 of 3");
    assert_eq!(browser.count("nav.pages a[rel=next]").await, 0);
    seen.extend(cards(&browser).await);
    // Every product once, in order: no page overlaps or skips another.
    assert_eq!(seen, everything);

    browser.click("nav.pages a[rel=prev]").await;
    assert_eq!(browser.text("nav.pages span").await, "Page 2 of 3");
    assert_eq!(cards(&browser).await, second);

    // Thirteen desk products make two pages of Desk; "Next" stays in Desk.
    let admin = shop.backend.admin().await;
    for _ in 0..7 {
        shop.backend.product(&admin, 700, 3).await;
    }
    let desk = listed(&shop, None, Some("desk")).await;
    assert_eq!(desk.len(), 13);
    browser.goto(&format!("{}/?category=desk", shop.url)).await;
    assert_eq!(browser.text("nav.pages span").await, "Page 1 of 2");
    let mut seen = cards(&browser).await;
    browser.click("nav.pages a[rel=next]").await;
    let url = browser.client.current_url().await.expect("url");
    assert_eq!(url.query(), Some("category=desk&page=2"));
    assert_eq!(browser.text("nav.categories a.selected").await, "Desk");
    assert_eq!(browser.text("nav.pages span").await, "Page 2 of 2");
    seen.extend(cards(&browser).await);
    assert_eq!(seen, desk);
    browser.assert_clean_console().await;
    browser.close().await;
}
