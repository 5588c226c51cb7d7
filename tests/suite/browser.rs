//! The page of `digits serve` in a real browser: Debian's `chromium`, headless, driven through
//! `chromium-driver` (WebDriver). Strokes are drawn with pointer actions, and what the page
//! reads is checked against `digits predict` on the canvas's own PNG.
//!
//! The WebDriver client is the few W3C endpoints the test needs, over reqwest, which the build
//! has already: fantoccini's dependencies turn on features of crates that Burn shares (syn's
//! `fold`, zerofrom's `alloc`), so `cargo test` would build Burn a second time.
//!
//! Where Chromium or its driver is not on PATH, the test is ignored, saying so; under CI, which
//! installs them, that is a failure, and so is, everywhere, a Chromium that is there but cannot
//! start. `DIGITS_SCREENSHOT=FILE` saves a screenshot of the page after it has read a drawn
//! digit, one of a conv net's feature maps (`serve-conv.png`), one after it has read a photo
//! (`serve-photo.png`) and one at phone width beside it (`serve-phone.png`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use crate::common::*;
use crate::photos;
use crate::serve::Server;

pub fn tests() -> Vec<Test> {
    vec![test!(
        the_page_reads_a_digit_drawn_in_chromium,
        MNIST,
        CHROMIUM
    )]
}

/// The key WebDriver uses for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// `chromedriver`, on a free port, killed when dropped.
struct Driver {
    process: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// One browser session.
struct Browser {
    http: reqwest::Client,
    session: String,
    _driver: Driver,
}

impl Browser {
    /// Starts chromium-driver and a headless Chromium session with a 1280×1000 window, or says
    /// why it cannot.
    async fn start() -> Result<Browser, String> {
        let driver_path = on_path("chromedriver")
            .ok_or("no chromedriver on PATH (Debian: apt-get install chromium-driver)")?;
        let chromium =
            on_path("chromium").ok_or("no chromium on PATH (Debian: apt-get install chromium)")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let process = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", driver_path.display()))?;
        let driver = Driver {
            process,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let started = Instant::now();
        while http
            .get(format!("{}/status", driver.url))
            .send()
            .await
            .is_err()
        {
            if started.elapsed() > Duration::from_secs(20) {
                return Err("chromedriver did not answer within 20 s".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--disable-gpu", "--window-size=1280,1000", "--hide-scrollbars"],
            },
        }}});
        let reply = send(
            http.post(format!("{}/session", driver.url))
                .json_body(&capabilities),
        )
        .await
        .map_err(|e| format!("Chromium cannot start: {e}"))?;
        let session = reply["sessionId"]
            .as_str()
            .ok_or("no session id")?
            .to_string();
        Ok(Browser {
            http,
            session: format!("{}/session/{session}", driver.url),
            _driver: driver,
        })
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let request = self
            .http
            .post(format!("{}/{path}", self.session))
            .json_body(&body);
        send(request)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    async fn get(&self, path: &str) -> Value {
        let request = self.http.get(format!("{}/{path}", self.session));
        send(request)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    async fn goto(&self, url: &str) {
        self.post("url", json!({ "url": url })).await;
    }

    /// Runs `script` (a function body) in the page and returns its value.
    async fn script(&self, script: &str) -> Value {
        self.post("execute/sync", json!({ "script": script, "args": [] }))
            .await
    }

    /// Waits up to 15 s for `condition` (a JavaScript expression) to be true.
    async fn wait_for(&self, condition: &str) {
        let started = Instant::now();
        while self.script(&format!("return !!({condition});")).await != json!(true) {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "timed out waiting for {condition}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The WebDriver reference of the element `css` selects.
    async fn find(&self, css: &str) -> String {
        let found = self
            .post("element", json!({ "using": "css selector", "value": css }))
            .await;
        found[ELEMENT].as_str().unwrap().to_string()
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.post(&format!("element/{element}/click"), json!({}))
            .await;
    }

    async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        self.get(&format!("element/{element}/text"))
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Draws a stroke through `points`, offsets in CSS pixels from the pad's centre, with the
    /// mouse button held.
    async fn stroke(&self, points: &[(f64, f64)]) {
        let pad = self.find("#pad").await;
        let mut actions = vec![];
        for (i, (x, y)) in points.iter().enumerate() {
            actions.push(json!({"type": "pointerMove", "duration": 15,
                                "origin": { ELEMENT: pad }, "x": x.round() as i64, "y": y.round() as i64}));
            if i == 0 {
                actions.push(json!({"type": "pointerDown", "button": 0}));
            }
        }
        actions.push(json!({"type": "pointerUp", "button": 0}));
        self.post("actions", json!({"actions": [{
            "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": actions,
        }]}))
        .await;
    }

    /// Chooses `file` in the file input `css`, as a person does in the file chooser.
    async fn choose_file(&self, css: &str, file: &Path) {
        let element = self.find(css).await;
        self.post(
            &format!("element/{element}/value"),
            json!({ "text": file.to_str().unwrap() }),
        )
        .await;
    }

    /// Presses and releases a key (a WebDriver key code).
    async fn press(&self, key: &str) {
        self.post(
            "actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
                {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key},
            ]}]}),
        )
        .await;
    }

    /// Waits until the page shows its reading of the latest drawing, and returns the digit.
    async fn settled_digit(&self) -> String {
        self.wait_for("state.seq > 0 && document.body.dataset.read === String(state.seq)")
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.wait_for("document.body.dataset.read === String(state.seq)")
            .await;
        self.text("#digit").await
    }

    /// The pad's drawing as PNG bytes, as the page sends it.
    async fn pad_png(&self) -> Vec<u8> {
        let url = self
            .script("return document.getElementById('pad').toDataURL('image/png');")
            .await;
        let data = url
            .as_str()
            .unwrap()
            .strip_prefix("data:image/png;base64,")
            .unwrap();
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap()
    }

    async fn screenshot(&self) -> Vec<u8> {
        let data = self.get("screenshot").await;
        base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap())
            .unwrap()
    }

    async fn close(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

/// A JSON body for a request builder (reqwest's `json` needs a feature the build lacks).
trait JsonBody {
    fn json_body(self, body: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, body: &Value) -> Self {
        self.header("Content-Type", "application/json")
            .body(body.to_string())
    }
}

/// Sends a WebDriver command: its `value`, or the driver's error.
async fn send(request: reqwest::RequestBuilder) -> Result<Value, String> {
    let response = request.send().await.map_err(|e| e.to_string())?;
    let ok = response.status().is_success();
    let body: Value = serde_json::from_slice(&response.bytes().await.map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let value = body["value"].clone();
    if ok {
        Ok(value)
    } else {
        Err(format!("{}: {}", value["error"], value["message"]))
    }
}

/// The digit `digits predict` reads in a PNG.
fn predict_png(model: &Path, png: &[u8], dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, png).unwrap();
    let stdout = Digits::new("predict").model(model).arg(&path).succeeds();
    stdout.split(": ").nth(1).unwrap()[..1].to_string()
}

/// Draws a "1" and a "0" with the mouse; each reading matches `digits predict` on the canvas's
/// PNG, with each model of the menu, two MLPs and a conv net. Clicks a hidden unit and sees its
/// weights, and a conv net's feature map and sees its filter; loads a random
/// test digit with its label; takes a photo (a generated phone photo, turned by its EXIF tag)
/// and reads it as `digits predict` reads the file; Escape clears; at phone width nothing
/// overflows sideways.
fn the_page_reads_a_digit_drawn_in_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let model = trained_two_layer_net(tmp.path());
    let nielsen = trained_nielsen(tmp.path());
    let conv = trained_small_convnet(tmp.path());
    let server = Server::start(&[&model, &nielsen, &conv], Some(mnist()));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let browser = Browser::start()
            .await
            .unwrap_or_else(|reason| panic!("{reason}"));
        browser.goto(&server.url).await;
        browser.wait_for("document.body.dataset.ready === 'true'").await;
        let option = browser.text("#model option").await;
        assert!(option.starts_with("two-layer-net: [784, 50, 10] relu, cross entropy; "), "{option}");

        // A "1": one stroke down the middle, slightly slanted.
        let one: Vec<(f64, f64)> = (0..=12).map(|i| (10.0 - 2.0 * f64::from(i) / 1.2, -100.0 + 200.0 * f64::from(i) / 12.0)).collect();
        browser.stroke(&one).await;
        let read = browser.settled_digit().await;
        let from_cli = predict_png(&model, &browser.pad_png().await, tmp.path(), "one.png");
        assert_eq!(read, from_cli, "the page and predict disagree on the drawn 1");
        assert_eq!(read, "1", "a clear 1 is read as {read}");
        let input = browser.script("return document.getElementById('input').getContext('2d').getImageData(0, 0, 28, 28).data.some(v => v > 0 && v < 255);").await;
        assert_eq!(input, json!(true), "the 28×28 input is drawn");

        // Escape clears; then a "0": an ellipse.
        browser.press("\u{E00C}").await;
        browser.wait_for("document.getElementById('digit').textContent === '?'").await;
        let zero: Vec<(f64, f64)> = (0..=40)
            .map(|i| {
                let t = std::f64::consts::TAU * f64::from(i) / 40.0;
                (60.0 * t.sin(), -85.0 * t.cos())
            })
            .collect();
        browser.stroke(&zero).await;
        let read = browser.settled_digit().await;
        let from_cli = predict_png(&model, &browser.pad_png().await, tmp.path(), "zero.png");
        assert_eq!(read, from_cli, "the page and predict disagree on the drawn 0");

        // The other model reads the same drawing, with its 30 hidden units.
        browser.click("#model option[value='nielsen']").await;
        browser.wait_for("document.querySelectorAll('#layers button.unit').length === 30").await;
        let read = browser.settled_digit().await;
        let from_cli = predict_png(&nielsen, &browser.pad_png().await, tmp.path(), "zero-nielsen.png");
        assert_eq!(read, from_cli, "nielsen: the page and predict disagree on the drawn 0");
        browser.click("#model option[value='two-layer-net']").await;
        browser.wait_for("document.querySelectorAll('#layers button.unit').length === 50").await;
        browser.settled_digit().await;

        // A hidden unit's incoming weights.
        browser.click("#layers button.unit:nth-of-type(4)").await;
        browser.wait_for("!document.getElementById('weights-figure').hidden && document.getElementById('weights').dataset.unit === '3'").await;
        let caption = browser.text("#weights-caption").await;
        assert!(caption.starts_with("Unit 3 of hidden layer 1: its 784 incoming weights"), "{caption}");
        let pressed = browser.script("return [...document.querySelectorAll('#layers button.unit')].findIndex(b => b.getAttribute('aria-pressed') === 'true');").await;
        assert_eq!(pressed, json!(3));

        let screenshot = std::env::var_os("DIGITS_SCREENSHOT").map(PathBuf::from);
        if let Some(path) = &screenshot {
            std::fs::write(path, browser.screenshot().await).unwrap();
            note!("screenshot: {}", path.display());
        }

        // A conv net reads the same drawing: its feature maps appear, its reading is predict's,
        // and a map of the first layer shows its 5×5 filter.
        browser.click("#model option[value='conv']").await;
        browser.wait_for("document.querySelectorAll('#layers button.map').length === 8").await;
        let read = browser.settled_digit().await;
        let from_cli = predict_png(&conv, &browser.pad_png().await, tmp.path(), "zero-conv.png");
        assert_eq!(read, from_cli, "conv: the page and predict disagree on the drawn 0");
        let titles = browser.script("return [...document.querySelectorAll('#layers h3')].map(h => h.textContent);").await;
        assert_eq!(
            titles,
            json!([
                "Layer 1: conv 8 5×5, relu → 8×24×24 (choose one)",
                "Layer 2: max-pool 2×2 → 8×12×12",
                "Layer 3: fc 30, relu → 30",
            ])
        );
        let lit = browser.script("return [...document.querySelectorAll('#layers .maps')].map(g => [...g.querySelectorAll('canvas')].filter(c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 < 3 && v > 0)).length);").await;
        let lit: Vec<u64> = serde_json::from_value(lit).unwrap();
        assert!(lit.len() == 2 && lit.iter().all(|&n| n >= 4), "maps drawn per layer: {lit:?}");
        browser.click("#layers button.map:nth-of-type(3)").await;
        browser.wait_for("!document.getElementById('weights-figure').hidden && document.getElementById('weights').dataset.unit === '2'").await;
        let caption = browser.text("#weights-caption").await;
        assert!(caption.starts_with("Map 2 of conv 8 5×5, relu: its 5×5 filter"), "{caption}");
        let side = browser.script("return document.getElementById('weights').width;").await;
        assert_eq!(side, json!(5));
        if let Some(path) = &screenshot {
            let shot = path.with_file_name("serve-conv.png");
            std::fs::write(&shot, browser.screenshot().await).unwrap();
            note!("screenshot of a conv net: {}", shot.display());
        }
        browser.click("#model option[value='two-layer-net']").await;
        browser.wait_for("document.querySelectorAll('#layers button.unit').length === 50").await;
        browser.settled_digit().await;

        // A random test digit, with its true label beside the reading.
        browser.click("#random").await;
        browser.wait_for("document.getElementById('truth').textContent.startsWith('true label: ')").await;
        let read = browser.settled_digit().await;
        assert!(read.len() == 1 && read.chars().all(|c| c.is_ascii_digit()), "{read}");

        // A photo through the Photo button's file input: a generated phone photo of a test
        // digit, stored turned with an EXIF tag, on shaded paper with a ruled line.
        let (label, digit) = &test_digits(mnist(), 8)[7];
        let photo = tmp.path().join("photo.jpg");
        std::fs::write(&photo, photos::photo(digit, photos::Hardness::moderate(), 6)).unwrap();
        browser.choose_file("#photo", &photo).await;
        browser.wait_for("document.getElementById('truth').textContent === 'photo: photo.jpg'").await;
        let read = browser.settled_digit().await;
        let from_cli = Digits::new("predict").model(&model).arg(&photo).succeeds();
        let from_cli = from_cli.split(": ").nth(1).unwrap()[..1].to_string();
        assert_eq!(read, from_cli, "the page and predict disagree on the photo");
        assert_eq!(read, label.to_string(), "the photo of a {label} is read as {read}");
        let seen = browser.script("return document.getElementById('input').getContext('2d').getImageData(0, 0, 28, 28).data.some(v => v > 0 && v < 255);").await;
        assert_eq!(seen, json!(true), "the 28×28 input of the photo is drawn");
        let cells = browser.script("return [...document.querySelectorAll('#layers .unit')].some(c => c.style.background !== 'rgb(255, 255, 255)');").await;
        assert_eq!(cells, json!(true), "the hidden units show the photo's activations");

        // An image dropped on the pad: a test digit as a PNG, read as predict reads the file.
        let (_, digit) = &test_digits(mnist(), 3)[2];
        let mut png = Vec::new();
        digit.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        let dropped = tmp.path().join("dropped.png");
        std::fs::write(&dropped, &png).unwrap();
        let data = base64::engine::general_purpose::STANDARD.encode(&png);
        browser.script(&format!("const bytes = Uint8Array.from(atob('{data}'), (c) => c.charCodeAt(0)); const files = new DataTransfer(); files.items.add(new File([bytes], 'dropped.png', {{ type: 'image/png' }})); document.getElementById('pad').dispatchEvent(new DragEvent('drop', {{ dataTransfer: files, bubbles: true, cancelable: true }}));")).await;
        browser.wait_for("document.getElementById('truth').textContent === 'photo: dropped.png'").await;
        let read_dropped = browser.settled_digit().await;
        let from_cli = Digits::new("predict").model(&model).arg(&dropped).succeeds();
        assert_eq!(read_dropped, from_cli.split(": ").nth(1).unwrap()[..1], "the page and predict disagree on a dropped image");

        // The photo again, for the screenshot.
        browser.choose_file("#photo", &photo).await;
        browser.wait_for("document.getElementById('truth').textContent === 'photo: photo.jpg'").await;
        browser.settled_digit().await;
        if let Some(path) = &screenshot {
            let shot = path.with_file_name("serve-photo.png");
            std::fs::write(&shot, browser.screenshot().await).unwrap();
            note!("screenshot after a photo: {}", shot.display());
        }

        // Phone width: everything wraps, nothing scrolls sideways.
        browser.post("window/rect", json!({"width": 390, "height": 844})).await;
        browser.wait_for("window.innerWidth <= 400").await;
        let overflow = browser.script("return document.documentElement.scrollWidth - window.innerWidth;").await;
        if let Some(path) = &screenshot {
            let phone = path.with_file_name("serve-phone.png");
            std::fs::write(&phone, browser.screenshot().await).unwrap();
            note!("screenshot at phone width: {}", phone.display());
        }
        assert!(overflow.as_i64().unwrap() <= 0, "{overflow} px too wide at phone width");
        browser.close().await;
    });
}
