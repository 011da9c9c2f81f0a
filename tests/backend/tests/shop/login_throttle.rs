//! Login throttling against a stranger, through the gateway with auth's
//! default budgets: failures count per address, per (account, address) and
//! per account; the account's budget spares a client with its device token.

use std::net::IpAddr;
use std::time::Instant;

use cloudshop_api::auth::{Credentials, DeviceToken};
use cloudshop_api::paths;
use cloudshop_auth::settings::ThrottleSettings;
use cloudshop_backend_tests::{Backend, Options, PASSWORD, spawn_backend, spawn_backend_with};
use cloudshop_platform::rate_limit::RateLimit;
use serde_json::json;

fn address(a: u8, b: u8) -> IpAddr {
    IpAddr::from([198, 18, a, b])
}

/// A wrong password for `email` from `from`: the status and `Retry-After`.
async fn guess(backend: &Backend, email: &str, from: IpAddr) -> (u16, Option<u64>) {
    let response = backend
        .env
        .client_as("storefront")
        .post(backend.url(paths::LOGIN))
        .header("x-forwarded-for", from.to_string())
        .json(&json!({"email": email, "password": "Not-the-password-42!"}))
        .send()
        .await
        .expect("login answered");
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (response.status().as_u16(), retry_after)
}

/// The admin's own login from `from`, with `device`: its device token.
async fn admin_login(
    backend: &Backend,
    from: IpAddr,
    device: Option<DeviceToken>,
) -> Result<DeviceToken, u16> {
    let (email, password) = backend.admin_credentials();
    let credentials = Credentials::new(email, password.as_str()).with_device_token(device);
    match backend.login_from(from, &credentials).await {
        Ok(token) => Ok(token.device_token.expect("a login gives a device token")),
        Err(err) => Err(err.status().as_u16()),
    }
}

#[tokio::test]
async fn a_stranger_failing_100_times_is_slowed_and_the_admin_still_logs_in() {
    let backend = spawn_backend().await;
    let (admin, _) = backend.admin_credentials();
    let home = address(1, 1);
    let device = admin_login(&backend, home, None)
        .await
        .expect("the admin's first login");

    let stranger = address(66, 66);
    let (mut refused, mut slowed) = (0, 0);
    for _ in 0..100 {
        match guess(&backend, &admin, stranger).await {
            (401, _) => refused += 1,
            (429, Some(wait)) => {
                assert!((1..=60).contains(&wait), "Retry-After {wait}");
                slowed += 1;
            }
            other => panic!("unexpected answer to a guess: {other:?}"),
        }
    }
    let per_account_address = ThrottleSettings::default().per_account_address.burst;
    assert!(
        refused <= per_account_address + 1,
        "{refused} guesses checked; one address gets {per_account_address} on one account"
    );
    assert_eq!(refused + slowed, 100);

    // The admin, from its own device, and from its own address without it.
    admin_login(&backend, home, Some(device))
        .await
        .expect("the admin's device logs in during the attack");
    admin_login(&backend, home, None)
        .await
        .expect("the admin's address logs in during the attack");
}

#[tokio::test]
async fn guesses_from_50_addresses_stay_within_the_account_budget_and_only_its_devices_get_in() {
    // The default budget, but refilled once a minute instead of ten times:
    // the refusals below come seconds after the budget is spent.
    let budget = RateLimit {
        per_minute: 1,
        ..ThrottleSettings::default().per_account
    };
    let backend = spawn_backend_with(Options {
        account_refill_per_minute: Some(budget.per_minute),
        ..Options::default()
    })
    .await;
    let (admin, _) = backend.admin_credentials();
    let device = admin_login(&backend, address(1, 1), None)
        .await
        .expect("the admin's first login");
    // Another account's device token, as a thief would bring it.
    let customer = format!("victim-{}@example.com", uuid::Uuid::new_v4().simple());
    backend
        .api
        .register(
            cloudshop_api::client::Caller::anonymous(),
            &cloudshop_api::auth::Registration {
                email: customer.clone(),
                password: PASSWORD.into(),
            },
        )
        .await
        .expect("register");
    let stolen = backend
        .login_from(address(2, 2), &Credentials::new(customer, PASSWORD))
        .await
        .expect("customer login")
        .device_token
        .expect("device token");

    let started = Instant::now();
    let mut checked = 0u32;
    for _round in 0..3 {
        for host in 0..50u8 {
            match guess(&backend, &admin, address(100, host)).await {
                (401, _) => checked += 1,
                (429, Some(_)) => {}
                other => panic!("unexpected answer to a guess: {other:?}"),
            }
        }
    }
    let drained = started.elapsed().as_secs_f64() * f64::from(budget.per_minute) / 60.0;
    let allowed = budget.burst + drained.ceil() as u32;
    assert!(
        (budget.burst..=allowed).contains(&checked),
        "{checked} of 150 guesses reached the password check; the budget allows {allowed}"
    );

    let fresh = address(7, 7);
    assert_eq!(
        admin_login(&backend, fresh, None).await.err(),
        Some(429),
        "without a device token, the spent account budget refuses"
    );
    assert_eq!(
        admin_login(&backend, fresh, Some(stolen)).await.err(),
        Some(429),
        "another account's device token counts as none"
    );
    assert_eq!(
        admin_login(&backend, fresh, Some(DeviceToken::new("forged.device.token")))
            .await
            .err(),
        Some(429)
    );
    admin_login(&backend, fresh, Some(device))
        .await
        .expect("the admin's own device token gets through, from any address");
}
