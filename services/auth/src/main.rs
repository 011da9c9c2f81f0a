use std::process::ExitCode;

use cloudshop_auth::settings::Settings;
use cloudshop_auth::startup;

#[tokio::main]
async fn main() -> ExitCode {
    cloudshop_platform::service::main("auth", |settings: Settings| async move {
        startup::build(settings).await?.run_until_stopped().await
    })
    .await
}
