//! A shop (backend + storefront) and a headless Chromium to visit it.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloudshop_backend_tests::{Backend, Options, spawn_backend_with};
use cloudshop_host::signals::{self, Signal};
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::sync::oneshot::Sender;
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
    spawn_shop_with(Options::default()).await
}

pub async fn spawn_shop_with(options: Options) -> Shop {
    let backend = spawn_backend_with(options).await;
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

/// Starts chromedriver on a port it picks (port 0, so it can never race a
/// test server for one) and returns it with that port. A driver that exits
/// or stays silent for 30 s is stopped and started again, twice at most
/// (seen once in CI: no port announced); the panic then quotes what each
/// one printed and how it ended.
async fn start_driver() -> (Child, u16) {
    let mut failures = Vec::new();
    for _ in 0..3 {
        let mut driver = Command::new("chromedriver")
            .arg("--port=0")
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromedriver (apt-get install chromium-driver) starts");
        let printed = Arc::new(Mutex::new(String::new()));
        let (port_tx, port_rx) = tokio::sync::oneshot::channel();
        let stdout = driver.stdout.take().expect("chromedriver's stdout");
        let stderr = driver.stderr.take().expect("chromedriver's stderr");
        drain(stdout, printed.clone(), Some(port_tx));
        drain(stderr, printed.clone(), None);
        if let Ok(Ok(port)) = tokio::time::timeout(Duration::from_secs(30), port_rx).await {
            return (driver, port);
        }
        signals::send_group(driver.id(), Signal::Kill);
        let _ = driver.kill();
        let status = driver.wait().map_or_else(|e| e.to_string(), |s| s.to_string());
        let printed = printed.lock().expect("output").clone();
        failures.push(format!(
            "chromedriver announced no port ({status}); it printed:\n{printed}"
        ));
    }
    panic!(
        "chromedriver did not start, three times:\n{}",
        failures.join("\n")
    );
}

/// Reads one of chromedriver's pipes to its end on a thread of its own (so
/// chromedriver never blocks on a full pipe), keeps the first 4 KiB of it
/// for an error message and sends the port it announces to `port`.
fn drain(pipe: impl Read + Send + 'static, printed: Arc<Mutex<String>>, mut port: Option<Sender<u16>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let announced = line
                .split("started successfully on port ")
                .nth(1)
                .and_then(|rest| rest.trim_end_matches('.').trim().parse::<u16>().ok());
            if let Some(announced) = announced
                && let Some(port) = port.take()
            {
                let _ = port.send(announced);
            }
            let mut printed = printed.lock().expect("output");
            if printed.len() < 4096 {
                printed.push_str(&line);
                printed.push('\n');
            }
        }
    });
}

impl Browser {
    pub async fn start() -> Self {
        let (driver, port) = start_driver().await;
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
