//! `support::browser` against a real headless Chromium: a tiny
//! server-rendered page whose delete buttons confirm, `fetch` a DELETE and
//! reload, as the status page's will. Proves the WebDriver client before
//! a page of pushgate's relies on it.

mod support {
    pub mod browser;
    pub mod http;
    pub mod process;
}

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use support::browser::{self, wait_until, Browser};
use support::process::require;

/// The page's items and every request it was sent (`"METHOD path"`).
#[derive(Default)]
struct State {
    items: Vec<u32>,
    requests: Vec<String>,
}

/// Serves the item page on a free loopback port, a thread per connection
/// (Chromium keeps idle and speculative connections open, which would
/// stall a one-at-a-time server).
fn serve(state: Arc<Mutex<State>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let state = state.clone();
            thread::spawn(move || answer(stream, &state));
        }
    });
    addr
}

/// Reads one request (no body is expected) and answers it, closing the
/// connection.
fn answer(mut stream: TcpStream, state: &Mutex<State>) {
    let mut head = Vec::new();
    let mut byte = [0];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return, // an idle connection closed without a request
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut words = head.split(' ');
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let mut state = state.lock().unwrap();
    state.requests.push(format!("{method} {path}"));
    let (status, body) = match (method, path.strip_prefix("/item/")) {
        ("GET", _) if path == "/" => ("200 OK", page(&state.items)),
        ("DELETE", Some(id)) => {
            let id: u32 = id.parse().unwrap_or(0);
            state.items.retain(|&item| item != id);
            ("204 No Content", String::new())
        }
        _ => ("404 Not Found", String::new()),
    };
    drop(state);
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

fn page(items: &[u32]) -> String {
    let rows: String = items
        .iter()
        .map(|id| {
            format!(
                "<tr><td class=\"name\">item {id}</td><td><button onclick=\"\
                 if (confirm('Delete?')) fetch('/item/{id}', {{method: 'DELETE'}})\
                 .then(() => location.reload())\">Delete</button></td></tr>\n"
            )
        })
        .collect();
    format!(
        "<!doctype html>\n<html><head><title>Items</title></head><body>\n\
         <table id=\"items\">\n{rows}</table>\n</body></html>\n"
    )
}

fn names(browser: &Browser) -> Vec<String> {
    let cells = browser.find_all("#items td.name");
    cells.iter().map(|cell| cell.text()).collect()
}

#[test]
fn deletes_a_row_through_confirm_fetch_and_reload() {
    const TEST: &str = "deletes_a_row_through_confirm_fetch_and_reload";
    let state = Arc::new(Mutex::new(State {
        items: vec![1, 2],
        ..State::default()
    }));
    let addr = serve(state.clone());
    let Some(browser) = Browser::start() else {
        require(TEST, false, browser::MISSING);
        return;
    };

    browser.goto(&format!("http://{addr}/"));
    assert_eq!(browser.title(), "Items");
    assert_eq!(names(&browser), ["item 1", "item 2"]);
    let buttons = browser.find_all("#items button");
    assert_eq!(buttons.len(), 2);
    let onclick = buttons[0].attribute("onclick").unwrap();
    assert!(onclick.contains("fetch('/item/1'"), "{onclick}");
    assert_eq!(buttons[0].attribute("disabled"), None);
    assert_eq!(browser.accept_alert(), None, "no dialog before a click");

    // Cancel: nothing is sent.
    let row = &browser.find_all("#items tr")[1];
    row.find_all("button")[0].click();
    assert_eq!(browser.dismiss_alert().as_deref(), Some("Delete?"));
    assert_eq!(names(&browser), ["item 1", "item 2"]);

    // OK: the DELETE, then a reload (the marker set on this document is
    // gone from the next) showing the one row left. Waiting for the
    // reload's request is enough: chromedriver holds the next command
    // until a load in progress has finished.
    browser.execute("window.before_reload = true;");
    buttons[0].click();
    assert_eq!(browser.accept_alert().as_deref(), Some("Delete?"));
    let reloaded = || {
        let requests = &state.lock().unwrap().requests;
        let deleted = requests.iter().position(|r| r == "DELETE /item/1");
        deleted.is_some_and(|at| requests[at..].iter().any(|r| r == "GET /"))
    };
    assert!(
        wait_until(Duration::from_secs(10), reloaded),
        "no DELETE /item/1 then GET / reached the server: {:?}",
        state.lock().unwrap().requests
    );
    assert_eq!(names(&browser), ["item 2"]);
    assert_eq!(
        browser.execute("return window.before_reload ?? null;"),
        serde_json::Value::Null
    );
    assert!(browser.page_source().contains("item 2"));
    assert!(!browser.page_source().contains("item 1"));

    let requests = state.lock().unwrap().requests.clone();
    let deletes: Vec<_> = requests
        .iter()
        .filter(|r| r.starts_with("DELETE"))
        .collect();
    assert_eq!(deletes, ["DELETE /item/1"], "{requests:?}");
    let loads = requests.iter().filter(|r| *r == "GET /").count();
    assert_eq!(loads, 2, "{requests:?}");
}
