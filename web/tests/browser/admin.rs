use cloudshop_api::client::Caller;
use http::StatusCode;

use crate::browser::{Browser, Shop, spawn_shop};
use crate::shopper::register;

/// Logs the browser in with the admin account of the shop's test secrets.
pub async fn log_in_as_admin(browser: &Browser, shop: &Shop) {
    let files = shop.backend.env.files();
    let email = std::fs::read_to_string(files.admin_email().path()).expect("email");
    let password = std::fs::read_to_string(files.admin_password().path()).expect("password");
    browser.goto(&format!("{}/login", shop.url)).await;
    browser.fill("input[name=email]", email.trim()).await;
    browser.fill("input[name=password]", password.trim()).await;
    browser.click("button.primary").await;
    assert!(browser.body().await.contains("Admin"), "logged in as the admin");
}

#[tokio::test]
async fn the_admin_adds_a_product_and_sets_its_stock_and_shoppers_see_it() {
    let shop = spawn_shop().await;
    let browser = Browser::start().await;
    log_in_as_admin(&browser, &shop).await;

    browser.goto(&format!("{}/admin/products", shop.url)).await;
    browser.fill("form.stacked input[name=sku]", "ADMIN-LAMP-1").await;
    browser
        .fill("form.stacked input[name=name]", "Brass reading lamp")
        .await;
    browser
        .fill(
            "form.stacked textarea[name=description]",
            "Warm light for long books.",
        )
        .await;
    browser.fill("form.stacked input[name=price_cents]", "6400").await;
    browser.fill("form.stacked input[name=stock]", "0").await;
    browser.click("form.stacked button").await;
    assert!(
        browser
            .text("p.flash")
            .await
            .contains("Created Brass reading lamp")
    );

    // Set its stock from the list.
    let stock_form = "form[action$='/stock']:has(input[aria-label='Stock of Brass reading lamp'])";
    browser
        .fill(&format!("{stock_form} input[name=stock]"), "7")
        .await;
    browser.click(&format!("{stock_form} button")).await;
    assert!(browser.text("p.flash").await.contains("7 in stock"));
    browser.screenshot("admin-products").await;
    browser.assert_clean_console().await;
    browser.close().await;

    // A shopper finds it, in stock, and cannot open the admin pages.
    let shopper = Browser::start().await;
    register(&shopper, &shop.url).await;
    shopper.goto(&format!("{}/?q=brass", shop.url)).await;
    let grid = shopper.text("ul.grid").await;
    assert!(
        grid.contains("Brass reading lamp") && grid.contains("7 in stock"),
        "{grid}"
    );
    shopper.goto(&format!("{}/admin/products", shop.url)).await;
    assert!(shopper.body().await.contains("Admins only"));
    shopper.goto(&format!("{}/admin/orders", shop.url)).await;
    assert!(shopper.body().await.contains("Admins only"));
    shopper.close().await;
}

#[tokio::test]
async fn the_admin_edits_then_deletes_a_product_and_shoppers_see_each_change() {
    let shop = spawn_shop().await;
    let admin = shop.backend.admin().await;
    let id = shop.backend.product(&admin, 500, 4).await;
    let product = |id| {
        let api = &shop.backend.api;
        async move { api.product(Caller::anonymous(), id).await }
    };
    let before = product(id).await.expect("product");
    // A shopper has it in their cart all along.
    let shopper = Browser::start().await;
    shopper.goto(&format!("{}/products/{id}", shop.url)).await;
    shopper.click("form[action='/cart/add'] button").await;

    let browser = Browser::start().await;
    log_in_as_admin(&browser, &shop).await;
    browser.goto(&format!("{}/admin/products", shop.url)).await;
    browser.click(&format!("a[href='/admin/products/{id}']")).await;
    assert_eq!(browser.text("main h1").await, format!("Edit {}", before.name));
    let form = "form.stacked";
    assert_eq!(
        browser.value(&format!("{form} input[name=sku]")).await,
        before.sku
    );
    assert_eq!(
        browser.value(&format!("{form} input[name=price_cents]")).await,
        "500"
    );
    assert_eq!(browser.value(&format!("{form} input[name=stock]")).await, "4");
    assert_eq!(
        browser.value(&format!("{form} select[name=category]")).await,
        "desk"
    );

    browser
        .fill(&format!("{form} input[name=name]"), "Walnut desk tidy")
        .await;
    browser
        .fill(&format!("{form} input[name=price_cents]"), "1899")
        .await;
    browser.fill(&format!("{form} input[name=stock]"), "9").await;
    browser
        .client
        .find(fantoccini::Locator::Css(&format!("{form} select[name=category]")))
        .await
        .expect("category")
        .select_by_value("kitchen")
        .await
        .expect("select kitchen");
    browser.click(&format!("{form} button")).await;
    assert_eq!(browser.path().await, "/admin/products");
    assert!(browser.text("p.flash").await.contains("Saved Walnut desk tidy"));
    assert_eq!(
        browser.text(&format!("a[href='/admin/products/{id}']")).await,
        "Walnut desk tidy"
    );
    let after = product(id).await.expect("product");
    assert_eq!(
        (
            after.sku.as_str(),
            after.name.as_str(),
            after.price_cents,
            after.stock,
            after.category.as_str()
        ),
        (before.sku.as_str(), "Walnut desk tidy", 1899, 9, "kitchen")
    );

    // The shopper sees the new name, price, stock and category.
    shopper.goto(&format!("{}/products/{id}", shop.url)).await;
    let page = shopper.text("article.product").await;
    assert!(
        page.contains("Walnut desk tidy") && page.contains("€18.99") && page.contains("9 in stock"),
        "{page}"
    );
    shopper.goto(&format!("{}/?category=kitchen", shop.url)).await;
    assert!(
        shopper
            .texts("li.card h2")
            .await
            .contains(&"Walnut desk tidy".to_owned())
    );

    browser
        .click(&format!("form[action='/admin/products/{id}/delete'] button"))
        .await;
    assert!(browser.text("p.flash").await.contains("Product deleted"));
    assert_eq!(browser.count(&format!("a[href='/admin/products/{id}']")).await, 0);
    assert_eq!(
        product(id).await.map(|p| p.id).map_err(|e| e.status()),
        Err(StatusCode::NOT_FOUND)
    );
    browser.assert_clean_console().await;
    browser.close().await;

    // Gone for the shopper too: no page, and their cart drops the line.
    shopper.goto(&format!("{}/products/{id}", shop.url)).await;
    assert_eq!(shopper.text("section.message h1").await, "Not found");
    shopper.goto(&format!("{}/cart", shop.url)).await;
    assert!(shopper.text("p.empty").await.contains("Your cart is empty"));
    assert!(shopper.body().await.contains("Cart (0)"));
    shopper.close().await;
}
