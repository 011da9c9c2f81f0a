//! A shop (backend + storefront) and a headless Chromium to visit it.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cloudshop_backend_tests::{Backend, spawn_backend};
use cloudshop_devkit::signals::{self, Signal};
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub struct Shop {
    pub backend: Backend,
    pub url: String,
    shutdown: CancellationToken,
}

impl Drop for Shop {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn spawn_shop() -> Shop {
    let backend = spawn_backend().await;
    let (url, shutdown) = backend.start_storefront().await;
    Shop {
        backend,
        url,
        shutdown,
    }
}

/// chromedriver and a browser session; both end on drop, the browser's
/// processes too: chromedriver runs in a process group of its own, and
/// the whole group is killed (a test that fails never reaches `close`).
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        signals::send_group(self.driver.id(), Signal::Kill);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// chromedriver's log endpoint: what the page printed to the console,
/// CSP violations included.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/se/log", session_id.unwrap_or_default()))
    }
    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({"type": "browser"}).to_string()))
    }
}

impl Browser {
    pub async fn start() -> Self {
        // Port 0: chromedriver picks a free port and says which, so it can
        // never race a test server for one.
        let mut driver = Command::new("chromedriver")
            .arg("--port=0")
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (apt-get install chromium-driver) starts");
        let stdout = driver.stdout.take().expect("chromedriver output");
        let port = tokio::task::spawn_blocking(move || {
            use std::io::BufRead;
            let mut lines = std::io::BufReader::new(stdout).lines();
            let port = lines.by_ref().map_while(Result::ok).find_map(|line| {
                line.split("started successfully on port ")
                    .nth(1)
                    .and_then(|rest| rest.trim_end_matches('.').trim().parse::<u16>().ok())
            });
            // Keep draining so chromedriver never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            port
        })
        .await
        .expect("join")
        .expect("chromedriver announces its port");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut capabilities = Capabilities::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-default-apps",
                    "--disable-extensions", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        capabilities.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        Self {
            client,
            driver,
            _profile: profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.client.find(Locator::Css(css)).await.expect(css);
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// Clicks a link or submit button and waits for the next page.
    pub async fn click(&self, css: &str) {
        let page = self.client.find(Locator::Css("html")).await.expect("page");
        self.client
            .find(Locator::Css(css))
            .await
            .expect(css)
            .click()
            .await
            .expect("click");
        for _ in 0..100 {
            // The old page's root goes stale once the new page has replaced it.
            if page.tag_name().await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for _ in 0..100 {
            let state = self.client.execute("return document.readyState", vec![]).await;
            if state.is_ok_and(|s| s == "complete") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .expect(css)
            .text()
            .await
            .expect("text")
    }

    pub async fn body(&self) -> String {
        self.text("body").await
    }

    /// The text of every element matching `css`, in page order.
    pub async fn texts(&self, css: &str) -> Vec<String> {
        let mut texts = Vec::new();
        for element in self.client.find_all(Locator::Css(css)).await.expect(css) {
            texts.push(element.text().await.expect("text"));
        }
        texts
    }

    pub async fn count(&self, css: &str) -> usize {
        self.client.find_all(Locator::Css(css)).await.expect(css).len()
    }

    /// The current value of a form field (what would be submitted).
    pub async fn value(&self, css: &str) -> String {
        let field = self.client.find(Locator::Css(css)).await.expect(css);
        field.prop("value").await.expect("value").unwrap_or_default()
    }

    /// Runs `script` in the page, as an attacker's or a tinkering user's
    /// JavaScript would; WebDriver's scripts are not subject to the page's CSP.
    pub async fn script(&self, script: &str) {
        self.client.execute(script, vec![]).await.expect(script);
    }

    /// The value of the cookie `name` the browser holds for this page, if any.
    pub async fn cookie(&self, name: &str) -> Option<String> {
        let cookies = self.client.get_all_cookies().await.expect("cookies");
        cookies
            .into_iter()
            .find(|c| c.name() == name)
            .map(|c| c.value().to_owned())
    }

    pub async fn path(&self) -> String {
        self.client.current_url().await.expect("url").path().to_owned()
    }

    /// Saves a screenshot under `target/screenshots/`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Everything the browser console received since the last call.
    pub async fn console(&self) -> Vec<Value> {
        match self.client.issue_cmd(BrowserLog).await.expect("browser log") {
            Value::Array(entries) => entries,
            other => panic!("unexpected log answer: {other}"),
        }
    }

    /// Fails unless the console, since the last call, reported something and
    /// only pages answered with `status` (Chromium logs each such page), so a
    /// refusal the test provoked is the only complaint.
    pub async fn assert_console_reports_only(&self, status: u16) {
        let entries = self.console().await;
        let mark = format!("status of {status}");
        assert!(
            !entries.is_empty()
                && entries
                    .iter()
                    .all(|e| e["message"].as_str().is_some_and(|m| m.contains(&mark))),
            "expected only {status} pages in the console: {entries:#?}"
        );
    }

    /// Fails on any console error or Content-Security-Policy report.
    pub async fn assert_clean_console(&self) {
        let problems: Vec<Value> = self
            .console()
            .await
            .into_iter()
            .filter(|entry| {
                let message = entry["message"].as_str().unwrap_or("");
                entry["level"] == "SEVERE" || message.contains("Content Security Policy")
            })
            .collect();
        assert!(problems.is_empty(), "console errors: {problems:#?}");
    }

    /// Ends the session; dropping then stops chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}
