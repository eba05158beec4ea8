//! A minimal W3C WebDriver client driving Debian's headless Chromium
//! through `chromedriver` (packages `chromium` and `chromium-driver`).
//!
//! It exists because the status page test needs a real browser: the page
//! is server-rendered HTML whose buttons run inline JavaScript (a
//! `confirm()`, a `fetch(..., {method: 'DELETE'})`, a reload), which only
//! a browser executes. Blocking and small: one HTTP/1.1 request per
//! WebDriver command over `support::http`, panicking with the driver's
//! message (and its log) on failure.
//!
//! Commands wait for a page load in progress (chromedriver's `normal` page
//! load strategy): once the server has seen a reload's request, the next
//! command sees the new page.
//!
//! A test includes `support::{browser, http, process}` and skips (or, with
//! `CI=true`, fails) when the browser is missing:
//!
//! ```ignore
//! let Some(browser) = Browser::start() else {
//!     require("my_test", false, browser::MISSING);
//!     return;
//! };
//! ```

#![allow(dead_code)]

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::http;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// What `require` says is missing when `Browser::start` returns `None`.
pub const MISSING: &str =
    "Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver)";

/// The key of an element reference in WebDriver's JSON (fixed by the spec).
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver error: its `error` code and `message`.
#[derive(Debug)]
struct Error {
    code: String,
    message: String,
}

/// A chromedriver process with one browser session; both end on drop.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    /// The browser profile and chromedriver's log; removed last (fields
    /// drop after `Drop::drop` has ended the browser).
    dir: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless
    /// Chromium session with a fresh profile. `None` when chromium or
    /// chromedriver is not installed.
    pub fn start() -> Option<Browser> {
        if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
            return None;
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        let log = File::create(dir.path().join("chromedriver.log")).unwrap();
        // A port free a moment ago; chromedriver exits if it was taken
        // since, which the readiness wait reports with its log.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {CHROMEDRIVER}: {e}"));
        let mut browser = Browser {
            driver,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            session: String::new(),
            dir,
        };
        browser.wait_ready();
        let profile = browser.dir.path().join("profile");
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            // A dialog left open stays open (and fails the next command)
            // rather than being dismissed behind the test's back.
            "unhandledPromptBehavior": "ignore",
            "timeouts": {"implicit": 0, "pageLoad": 20_000, "script": 10_000},
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    // Root in a container has no user namespace sandbox.
                    "--no-sandbox",
                    "--disable-gpu",
                    // Containers' /dev/shm is often too small.
                    "--disable-dev-shm-usage",
                    "--disable-background-networking",
                    "--no-first-run",
                    "--disable-extensions",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        }}});
        let created = browser.command("POST", "/session", Some(capabilities));
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no sessionId in {created}"))
            .to_owned();
        Some(browser)
    }

    /// Waits until chromedriver's `/status` says it is ready.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(status) = self.call("GET", "/status", None) {
                if status["ready"] == true {
                    return;
                }
            }
            if let Some(exit) = self.driver.try_wait().unwrap() {
                panic!("chromedriver exited ({exit}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver not ready within 20s:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// chromedriver's output so far, for failure messages.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default()
    }

    /// One WebDriver command: its `value`, or the error it answered.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Error> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let headers = [("Content-Type", "application/json; charset=utf-8")];
        let response =
            http::request(self.addr, method, path, &headers, body.as_bytes()).map_err(|e| {
                Error {
                    code: "io".into(),
                    message: e.to_string(),
                }
            })?;
        let mut answer: Value = serde_json::from_slice(&response.body).map_err(|e| Error {
            code: "invalid json".into(),
            message: format!("{e}: {}", response.text()),
        })?;
        let value = answer["value"].take();
        if response.status == 200 {
            return Ok(value);
        }
        Err(Error {
            code: value["error"].as_str().unwrap_or("?").to_owned(),
            message: value["message"].as_str().unwrap_or("").to_owned(),
        })
    }

    /// A command that must succeed.
    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, path, body).unwrap_or_else(|e| {
            panic!(
                "WebDriver {method} {path}: {}: {}\nchromedriver log:\n{}",
                e.code,
                e.message,
                self.log()
            )
        })
    }

    /// A command on this session (`path` after `/session/ID`).
    fn session(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.command(method, &format!("/session/{}{path}", self.session), body)
    }

    /// Loads `url` and waits for the page to load.
    pub fn goto(&self, url: &str) {
        self.session("POST", "/url", Some(json!({ "url": url })));
    }

    /// The document's title.
    pub fn title(&self) -> String {
        string(self.session("GET", "/title", None))
    }

    /// The current document serialized as HTML (the DOM now, not the bytes
    /// the server sent).
    pub fn page_source(&self) -> String {
        string(self.session("GET", "/source", None))
    }

    /// The elements matching the CSS selector, in document order.
    pub fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let found = self.session("POST", "/elements", Some(locator(css)));
        self.elements(found)
    }

    fn elements(&self, found: Value) -> Vec<Element<'_>> {
        let Value::Array(found) = found else {
            panic!("find answered {found}, not an array");
        };
        found
            .iter()
            .map(|e| Element {
                browser: self,
                id: string(e[ELEMENT_KEY].clone()),
            })
            .collect()
    }

    /// Runs `script` as a function body (`return` gives the result) and
    /// gives what it returned, as JSON.
    pub fn execute(&self, script: &str) -> Value {
        let body = json!({ "script": script, "args": [] });
        self.session("POST", "/execute/sync", Some(body))
    }

    /// Accepts the open `alert`/`confirm`/`prompt` dialog (OK), giving its
    /// message; `None` when no dialog is open.
    pub fn accept_alert(&self) -> Option<String> {
        self.close_alert("accept")
    }

    /// Dismisses the open dialog (Cancel), giving its message; `None` when
    /// no dialog is open.
    pub fn dismiss_alert(&self) -> Option<String> {
        self.close_alert("dismiss")
    }

    fn close_alert(&self, how: &str) -> Option<String> {
        let path = format!("/session/{}/alert", self.session);
        let text = match self.call("GET", &format!("{path}/text"), None) {
            Ok(text) => string(text),
            Err(e) if e.code == "no such alert" => return None,
            Err(e) => panic!("WebDriver alert text: {}: {}", e.code, e.message),
        };
        self.command("POST", &format!("{path}/{how}"), Some(json!({})));
        Some(text)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session quits Chromium; killing chromedriver alone
        // could leave it running.
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// An element of the page it was found in.
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Element<'_> {
    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/element/{}{path}", self.id);
        self.browser.session(method, &path, body)
    }

    /// The rendered text (as a user sees it: CSS applied, whitespace
    /// collapsed).
    pub fn text(&self) -> String {
        string(self.command("GET", "/text", None))
    }

    /// The attribute `name` as written in the HTML; `None` when absent.
    pub fn attribute(&self, name: &str) -> Option<String> {
        let value = self.command("GET", &format!("/attribute/{name}"), None);
        value.as_str().map(str::to_owned)
    }

    /// Clicks it (scrolled into view, as a user would). Returns once the
    /// click's handlers ran, or a dialog they opened is showing.
    pub fn click(&self) {
        self.command("POST", "/click", Some(json!({})));
    }

    /// The elements inside this one matching the CSS selector.
    pub fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let found = self.command("POST", "/elements", Some(locator(css)));
        self.browser.elements(found)
    }
}

/// Polls `condition` every 50 ms until it holds (`true`) or `timeout`
/// passes (`false`, for the caller's assert to say what did not happen).
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn locator(css: &str) -> Value {
    json!({ "using": "css selector", "value": css })
}

fn string(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => panic!("expected a string from WebDriver, got {other}"),
    }
}
