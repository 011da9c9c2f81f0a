use std::process::ExitCode;

use cloudshop_auth::settings::Settings;
use cloudshop_auth::startup;

// No `#[global_allocator]` here, unlike the other services: see
// `cloudshop_platform::Allocator`.
#[tokio::main]
async fn main() -> ExitCode {
    cloudshop_platform::service::main(
        cloudshop_platform::ServiceId::Auth,
        |settings: Settings| async move { startup::build(settings).await?.run_until_stopped().await },
    )
    .await
}
