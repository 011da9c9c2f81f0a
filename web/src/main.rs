use std::process::ExitCode;

use cloudshop_storefront::settings::Settings;
use cloudshop_storefront::startup::Application;

#[tokio::main]
async fn main() -> ExitCode {
    cloudshop_platform::service::main("storefront", |settings: Settings| async move {
        Application::build(settings).await?.run_until_stopped().await
    })
    .await
}
