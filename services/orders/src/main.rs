use std::process::ExitCode;

use cloudshop_orders::settings::Settings;
use cloudshop_orders::startup;

#[global_allocator]
static ALLOCATOR: cloudshop_platform::Allocator = cloudshop_platform::Allocator;

#[tokio::main]
async fn main() -> ExitCode {
    cloudshop_platform::service::main(
        cloudshop_platform::ServiceId::Orders,
        |settings: Settings| async move { startup::build(settings).await?.run_until_stopped().await },
    )
    .await
}
