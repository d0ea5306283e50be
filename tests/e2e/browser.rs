//! Headless Chromium driven through chromedriver (WebDriver), for the pages'
//! tests: a person's story, step by step, with axe-core checked on every
//! state and a screenshot of each kept under the target folder
//! (`target/tmp/screenshots/`, not committed).
//!
//! Chromium and chromedriver come from Debian (`chromium`,
//! `chromium-driver`), installed by `scripts/test`; axe-core is vendored in
//! `tests/e2e/vendor/axe-core/` from the npm package.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::harness::{TempDir, free_udp_port};

/// A browser window at 1366×768, the size the pages must read at.
pub struct Browser {
    rt: tokio::runtime::Runtime,
    client: Client,
    driver: Child,
    _profile: TempDir,
    /// Which test this browser belongs to, for the screenshots' names.
    name: String,
}

/// How long to wait for something the page should show.
pub const WAIT: Duration = Duration::from_secs(15);

impl Browser {
    /// Starts chromedriver and a headless Chromium session. `name` prefixes
    /// the screenshots.
    pub fn open(name: &str) -> Browser {
        Browser::start(name, None, &[])
    }

    /// [`Browser::open`] with a microphone: Chromium's fake device, allowed
    /// without asking, playing `wav` (a WAV file) when given, else its own
    /// beeps; peer connections may use the loopback interface.
    pub fn open_with_microphone(name: &str, wav: Option<&Path>) -> Browser {
        let mut args = vec![
            "--use-fake-device-for-media-stream".to_owned(),
            "--use-fake-ui-for-media-stream".to_owned(),
            "--allow-loopback-in-peer-connection".to_owned(),
            "--autoplay-policy=no-user-gesture-required".to_owned(),
        ];
        if let Some(wav) = wav {
            args.push(format!(
                "--use-file-for-fake-audio-capture={}",
                wav.display()
            ));
        }
        Browser::start(name, None, &args)
    }

    /// [`Browser::open`], with every download saved into `dir` without a
    /// question (Chromium's `download.default_directory` preference).
    pub fn open_with_downloads(name: &str, dir: &Path) -> Browser {
        Browser::start(name, Some(dir), &[])
    }

    fn start(name: &str, downloads: Option<&Path>, extra_args: &[String]) -> Browser {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let profile = TempDir::new("chromium");
        // On a loaded machine the free port may be taken before
        // chromedriver binds it: then another port.
        for _ in 0..3 {
            let port = free_udp_port();
            let mut driver = Command::new("chromedriver")
                .arg(format!("--port={port}"))
                // Where the centres are: "today" on the page is the
                // engine's today (cti.timezone).
                .env("TZ", "America/Toronto")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start chromedriver (Debian package chromium-driver)");
            let end = Instant::now() + Duration::from_secs(10);
            while Instant::now() < end && std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            let mut caps = Capabilities::new();
            let mut options = json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                    "--window-size=1366,768", "--lang=en-CA",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            });
            if let Some(args) = options["args"].as_array_mut() {
                args.extend(extra_args.iter().map(|a| json!(a)));
            }
            if let Some(dir) = downloads {
                options["prefs"] = json!({
                    "download.default_directory": dir.display().to_string(),
                    "download.prompt_for_download": false,
                    "download.directory_upgrade": true,
                });
            }
            caps.insert("goog:chromeOptions".into(), options);
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            let client = rt.block_on(
                ClientBuilder::new(connector)
                    .capabilities(caps)
                    .connect(&format!("http://127.0.0.1:{port}")),
            );
            match client {
                Ok(client) => {
                    return Browser {
                        rt,
                        client,
                        driver,
                        _profile: profile,
                        name: name.to_owned(),
                    };
                }
                Err(e) => {
                    eprintln!("chromedriver on {port}: {e}; trying another port");
                    let _ = driver.kill();
                    let _ = driver.wait();
                }
            }
        }
        panic!("could not start a Chromium session through chromedriver");
    }

    pub fn goto(&self, url: &str) {
        self.rt
            .block_on(self.client.goto(url))
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    pub fn reload(&self) {
        self.rt.block_on(self.client.refresh()).expect("reload");
    }

    /// Runs `script` in the page (its `arguments` are `args`); returns its value.
    pub fn eval(&self, script: &str, args: Vec<Value>) -> Value {
        self.rt
            .block_on(self.client.execute(script, args))
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Runs an asynchronous `script` (it calls its last argument with the
    /// result); returns the result.
    pub fn rt_execute_async(&self, script: &str) -> Value {
        self.rt
            .block_on(self.client.execute_async(script, vec![]))
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until `script` returns something truthy; returns it. Panics
    /// with `what` and a screenshot after [`WAIT`].
    #[track_caller]
    pub fn wait_until(&self, what: &str, script: &str) -> Value {
        let end = Instant::now() + WAIT;
        loop {
            let v = self.eval(script, vec![]);
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return v;
            }
            if Instant::now() > end {
                let shot = self.screenshot(&format!("timeout-{}", slug(what)));
                panic!(
                    "the page never showed {what} (screenshot {}); body text:\n{}",
                    shot.display(),
                    self.text("body")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the element matching `css` is shown.
    pub fn visible(&self, css: &str) -> bool {
        self.eval(
            "const e = document.querySelector(arguments[0]); \
             return !!e && !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length) \
             && getComputedStyle(e).visibility !== 'hidden';",
            vec![json!(css)],
        )
        .as_bool()
        .unwrap_or(false)
    }

    #[track_caller]
    pub fn wait_visible(&self, css: &str) {
        let script = format!(
            "const e = document.querySelector({css:?}); \
             return !!e && !!(e.offsetWidth || e.offsetHeight) && getComputedStyle(e).visibility !== 'hidden';"
        );
        self.wait_until(&format!("{css} shown"), &script);
    }

    /// Waits until the text of `css` contains `text`; returns the text.
    #[track_caller]
    pub fn wait_text(&self, css: &str, text: &str) -> String {
        let script = format!(
            "const e = document.querySelector({css:?}); \
             return !!e && e.innerText.includes({text:?}) && e.innerText;"
        );
        self.wait_until(&format!("{text:?} in {css}"), &script)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The rendered text of the first element matching `css` ("" if none).
    pub fn text(&self, css: &str) -> String {
        self.eval(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
            vec![json!(css)],
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// The value of a form field.
    pub fn value(&self, css: &str) -> String {
        self.eval(
            "const e = document.querySelector(arguments[0]); return e ? e.value : null;",
            vec![json!(css)],
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    pub fn click(&self, css: &str) {
        self.rt
            .block_on(async { self.client.find(Locator::Css(css)).await?.click().await })
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Types into the element matching `css` as a person would (focus, keys).
    pub fn type_into(&self, css: &str, text: &str) {
        self.rt
            .block_on(async {
                self.client
                    .find(Locator::Css(css))
                    .await?
                    .send_keys(text)
                    .await
            })
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Chooses the option whose value is `value` in the select `css`, with
    /// the keyboard's effect (a `change` event).
    pub fn select(&self, css: &str, value: &str) {
        self.rt
            .block_on(async {
                self.client
                    .find(Locator::Css(css))
                    .await?
                    .select_by_value(value)
                    .await
            })
            .unwrap_or_else(|e| panic!("select {value} in {css}: {e}"));
    }

    /// Sends keys to whatever has the focus (WebDriver key codes for Tab,
    /// Enter, arrows and modifiers: see [`keys`]).
    pub fn keys(&self, keys: &str) {
        self.rt
            .block_on(async { self.client.active_element().await?.send_keys(keys).await })
            .unwrap_or_else(|e| panic!("keys {keys:?}: {e}"));
    }

    /// The id (or tag) of the focused element.
    pub fn focused(&self) -> String {
        self.eval(
            "const e = document.activeElement; return e ? (e.id || e.tagName.toLowerCase()) : '';",
            vec![],
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Presses Tab until `id` has the focus (at most `max` times); returns
    /// how many presses it took.
    #[track_caller]
    pub fn tab_to(&self, id: &str, max: usize) -> usize {
        for n in 0..max {
            if self.focused() == id {
                return n;
            }
            self.keys(keys::TAB);
        }
        assert_eq!(self.focused(), id, "Tab never reached #{id}");
        max
    }

    /// Presses Tab until the element `css` selects has the focus (at most
    /// `max` times); returns how many presses it took.
    #[track_caller]
    pub fn tab_to_css(&self, css: &str, max: usize) -> usize {
        let focused = || {
            self.eval(
                "return document.activeElement?.matches(arguments[0]) ?? false",
                vec![serde_json::json!(css)],
            ) == serde_json::json!(true)
        };
        for n in 0..max {
            if focused() {
                return n;
            }
            self.keys(keys::TAB);
        }
        assert!(focused(), "Tab never reached {css}");
        max
    }

    /// English product words left on a French page: every catalogue text
    /// that differs between the languages and is not a French text too, in
    /// pieces between its placeholders (the language toggle names English
    /// in its own words).
    pub fn english_left(&self) -> Vec<String> {
        self.english_left_but("")
    }

    /// [`Browser::english_left`], except in the elements `data` selects
    /// (what a page shows as its publisher wrote it, such as a directory's
    /// services, often in both languages).
    pub fn english_left_but(&self, data: &str) -> Vec<String> {
        let script = format!(
            "const done = arguments[arguments.length - 1];
             const data = {};
             Promise.all([import('/assets/i18n/en.js'), import('/assets/i18n/fr.js')]).then(([en, fr]) => {{
               const toggle = document.querySelector('#lang-toggle').innerText;
               let text = document.body.innerText.replace(toggle, '');
               if (data) for (const d of document.querySelectorAll(data)) text = text.replace(d.innerText, '');
               const french = new Set(Object.values(fr.default));
               const left = [];
               for (const [key, value] of Object.entries(en.default)) {{
                 if (value === fr.default[key] || french.has(value)) continue;
                 for (const piece of value.split(/\\{{[^}}]*\\}}/)) {{
                   const p = piece.trim();
                   if (p.length >= 5 && text.includes(p)) left.push(key + ': ' + p);
                 }}
               }}
               done(left);
             }});",
            serde_json::to_string(data).unwrap()
        );
        let found = self.rt_execute_async(&script);
        found
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    }

    /// Runs axe-core on the page as it is now: no serious or critical
    /// violation allowed. Saves a screenshot named `state` either way.
    #[track_caller]
    pub fn axe(&self, state: &str) {
        self.screenshot(state);
        let axe = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/vendor/axe-core/axe.min.js"),
        )
        .expect("axe-core is vendored");
        self.eval(&axe, vec![]);
        let result = self
            .rt
            .block_on(self.client.execute_async(
                "const done = arguments[arguments.length - 1]; \
                 axe.run(document, {resultTypes: ['violations']}) \
                   .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, \
                      help: v.help, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)})))) \
                   .catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));",
                vec![],
            ))
            .expect("axe.run");
        let bad: Vec<&Value> = result
            .as_array()
            .expect("violations")
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(
            bad.is_empty(),
            "axe-core: serious or critical violations on {state}: {}",
            serde_json::to_string_pretty(&bad).unwrap()
        );
    }

    /// Saves a PNG of the window as `<target>/tmp/screenshots/<test>-<state>.png`.
    pub fn screenshot(&self, state: &str) -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}-{}.png", self.name, slug(state)));
        if let Ok(png) = self.rt.block_on(self.client.screenshot()) {
            std::fs::write(&path, png).unwrap();
        }
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let client = self.client.clone();
        let _ = self
            .rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(5), client.close()).await });
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// WebDriver key codes (the W3C spec's private-use characters).
pub mod keys {
    pub const TAB: &str = "\u{E004}";
    pub const ENTER: &str = "\u{E007}";
    pub const SPACE: &str = "\u{E00D}";
    pub const DOWN: &str = "\u{E015}";
    /// Releases the modifiers held by the keys before it.
    pub const NULL: &str = "\u{E000}";
    pub const SHIFT: &str = "\u{E008}";
    pub const ALT: &str = "\u{E00A}";

    /// Alt+Shift+`letter`, the pages' shortcuts.
    pub fn shortcut(letter: char) -> String {
        format!("{ALT}{SHIFT}{letter}{NULL}")
    }
}
