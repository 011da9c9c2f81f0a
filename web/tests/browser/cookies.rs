use crate::browser::{Browser, spawn_shop};

#[tokio::test]
async fn a_tampered_cart_is_an_empty_cart() {
    let shop = spawn_shop().await;
    let browser = Browser::start().await;
    browser.goto(&format!("{}/products/1", shop.url)).await;
    browser.click("form[action='/cart/add'] button").await;
    assert!(browser.body().await.contains("Cart (1)"));

    let cart = browser
        .client
        .get_named_cookie("cart")
        .await
        .expect("cart cookie");
    let value = cart.value().to_owned();
    browser.close().await;

    // Replay the cookie the browser holds, then a forged one: same signature,
    // other contents (99 of product 1).
    let forged = value.replacen("%22quantity%22%3A1", "%22quantity%22%3A99", 1);
    assert_ne!(forged, value, "the cookie holds the cart as signed JSON: {value}");
    let client = reqwest::Client::new();
    let cart_page = |cookie: String| {
        let request = client
            .get(format!("{}/cart", shop.url))
            .header("cookie", format!("cart={cookie}"));
        async move {
            let response = request.send().await.expect("cart page");
            assert_eq!(response.status(), 200);
            response.text().await.expect("html")
        }
    };
    let genuine = cart_page(value).await;
    assert!(genuine.contains("Single-origin espresso beans") && !genuine.contains("Your cart is empty"));
    let tampered = cart_page(forged).await;
    assert!(tampered.contains("Your cart is empty"), "{tampered}");
}

/// Every form is double-submit checked: a post without the token, with
/// another token, or with the token but no cookie is a 403 that changes
/// nothing; the same post with the pair the page gave is acted on. An admin
/// form is refused as "admins only" before its token is even read.
#[tokio::test]
async fn forms_without_the_matching_csrf_token_are_refused_and_change_nothing() {
    let shop = spawn_shop().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = client
        .get(format!("{}/products/1", shop.url))
        .send()
        .await
        .expect("product page");
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("csrf="))
        .and_then(|v| v.split(';').next())
        .expect("a csrf cookie on the first visit")
        .to_owned();
    let html = page.text().await.expect("html");
    let token = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form carries the token")
        .to_owned();

    let post = |path: &str, cookie: Option<&str>, form: Vec<(&str, &str)>| {
        let mut request = client.post(format!("{}{path}", shop.url)).form(&form);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        async move { request.send().await.expect("post") }
    };
    let add = |csrf: Option<&'static str>| {
        let mut form = vec![("product_id", "1"), ("quantity", "2")];
        if let Some(csrf) = csrf {
            form.push(("csrf", csrf));
        }
        form
    };
    let token: &'static str = Box::leak(token.into_boxed_str());
    let refusals = [
        ("no token", post("/cart/add", Some(&cookie), add(None)).await),
        (
            "another token",
            post(
                "/cart/add",
                Some(&cookie),
                add(Some("0123456789abcdef0123456789abcdef")),
            )
            .await,
        ),
        ("no cookie", post("/cart/add", None, add(Some(token))).await),
        (
            "logout without a token",
            post("/logout", Some(&cookie), vec![]).await,
        ),
    ];
    for (case, response) in refusals {
        assert_eq!(response.status(), 403, "{case}");
        let sets_cart = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v.starts_with("cart=")));
        assert!(!sets_cart, "{case}: a refused form changed the cart");
        let body = response.text().await.expect("html");
        assert!(body.contains("This form has expired"), "{case}: {body}");
    }

    let admin_form = post(
        "/admin/products",
        Some(&cookie),
        vec![("csrf", token), ("sku", "X-1")],
    )
    .await;
    assert_eq!(admin_form.status(), 403);
    assert!(admin_form.text().await.expect("html").contains("Admins only"));

    let accepted = post("/cart/add", Some(&cookie), add(Some(token))).await;
    assert_eq!(accepted.status(), 303);
    let cart = accepted
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("cart="))
        .and_then(|v| v.split(';').next())
        .expect("the accepted form sets the cart")
        .to_owned();
    let cart_page = client
        .get(format!("{}/cart", shop.url))
        .header("cookie", format!("{cookie}; {cart}"))
        .send()
        .await
        .expect("cart page")
        .text()
        .await
        .expect("html");
    assert!(cart_page.contains("Cart (2)"), "{cart_page}");
}
