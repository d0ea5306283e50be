//! A CTI server on 127.0.0.1:0 for one test, with a tiny HTTP client and a
//! websocket client (tokio-tungstenite).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use frontdoor_cti::protocol::Role;
use frontdoor_cti::{Cti, CtiConfig, NavigatorCommand, UserCommand, run_user_command};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::double::AcdDouble;

pub const PASSWORD: &str = "correct-horse-battery";
pub const TIMEOUT: Duration = Duration::from_secs(15);

pub struct TestServer {
    pub cti: Cti,
    pub addr: SocketAddr,
    /// The queues' stand-in: it answers navigators' state requests and says
    /// the states calls put them in when the test tells it to.
    pub acd: Arc<AcdDouble>,
    /// The commands other than state requests, as the queues received them
    /// (read with [`TestServer::command`]).
    pub commands: mpsc::UnboundedReceiver<NavigatorCommand>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<frontdoor_cti::Result<()>>>,
}

/// Test settings: the defaults, on the test's database.
pub fn config(url: &str) -> CtiConfig {
    CtiConfig {
        db: url.into(),
        ..CtiConfig::default()
    }
}

pub async fn start(config: CtiConfig) -> TestServer {
    let (cti, commands) = Cti::start(config).await.expect("start CTI");
    let (acd, commands) = AcdDouble::start(cti.events(), commands);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(frontdoor_cti::serve(listener, cti.clone(), async move {
        let _ = stopped.await;
    }));
    TestServer {
        cti,
        addr,
        acd,
        commands,
        stop: Some(stop),
        served: Some(served),
    }
}

impl TestServer {
    /// The next command the CTI sent the queues (state requests included),
    /// if it sent one: every command sent so far has reached the queues.
    pub async fn command(&mut self) -> Option<NavigatorCommand> {
        self.acd.settle().await;
        self.commands.try_recv().ok()
    }

    /// Forgets the commands sent so far.
    pub async fn drain(&mut self) {
        while self.command().await.is_some() {}
    }

    /// Signals shutdown and waits (with the timeout) for `serve` to return.
    pub async fn stop(&mut self) -> frontdoor_cti::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let served = self.served.take().expect("stopped once");
        tokio::time::timeout(TIMEOUT, served)
            .await
            .expect("serve did not return")
            .expect("serve panicked")
    }

    pub async fn add_user(&self, username: &str, role: Role, centre: &str) {
        run_user_command(
            self.cti.store(),
            UserCommand::Add {
                username: username.into(),
                role,
                centre: centre.into(),
                languages: vec!["en".into(), "fr".into()],
                crisis: false,
                password_stdin: true,
                sip_secret_stdin: false,
            },
            format!("{PASSWORD}\n").as_bytes(),
        )
        .await
        .expect("add user");
    }

    pub async fn login(&self, username: &str) -> String {
        let body = serde_json::json!({ "username": username, "password": PASSWORD }).to_string();
        let r = self.http("POST", "/api/login", None, Some(&body)).await;
        assert_eq!(r.status, 200, "login {username}: {:?}", r.body);
        r.json["token"].as_str().unwrap().to_string()
    }

    pub async fn http(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Reply {
        http(self.addr, method, path, token, body).await
    }

    pub async fn ws(&self, token: &str) -> Ws {
        let url = format!("ws://{}/cti/ws?token={token}", self.addr);
        let (stream, _) = tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(url))
            .await
            .expect("websocket connect timed out")
            .expect("websocket connect");
        Ws {
            stream,
            last_seq: 0,
        }
    }

    /// Publishes a desk whose outside destinations are `uris` (the only
    /// SIP URIs navigators may transfer to).
    pub fn destinations(&self, uris: &[&str]) {
        self.cti.publish_desk(frontdoor_cti::protocol::Desk {
            destinations: uris
                .iter()
                .enumerate()
                .map(|(i, uri)| frontdoor_cti::protocol::Destination {
                    id: format!("d{i}"),
                    name: format!("Destination {i}"),
                    uri: uri.to_string(),
                    centre: None,
                })
                .collect(),
            ..Default::default()
        });
    }

    /// The newest audit rows, newest first.
    pub async fn audit(&self) -> Vec<frontdoor_cti::store::AuditEntry> {
        self.cti.store().audit_log(50).await.unwrap()
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub json: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// HTTP/1.1 with `Connection: close`; enough for a JSON API.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Reply {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| ("Authorization", a))
        .into_iter()
        .collect();
    request(addr, method, path, &headers, body).await
}

/// A request with no body and these headers.
pub async fn http_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Reply {
    request(addr, method, path, headers, None).await
}

async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let body = body.unwrap_or("");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(TIMEOUT, s.read_to_end(&mut raw))
        .await
        .expect("HTTP timed out")
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, rest) = text.split_once("\r\n\r\n").expect("HTTP head");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    let json = serde_json::from_str(&body).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        json,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

pub struct Ws {
    stream: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
    /// The `seq` of the last frame received, for `resume`.
    pub last_seq: u64,
}

impl Ws {
    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Message::text(text.to_string()))
            .await
            .unwrap();
    }

    pub async fn send(&mut self, v: Value) {
        self.send_text(&v.to_string()).await;
    }

    /// The next server frame that is not a heartbeat.
    pub async fn next(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(TIMEOUT, self.stream.next())
                .await
                .expect("no frame within the timeout")
                .expect("websocket closed")
                .expect("websocket error");
            let Message::Text(t) = msg else { continue };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            let seq = v["seq"].as_u64().expect("every server frame has a seq");
            assert!(
                seq > self.last_seq || self.last_seq == 0 || v["type"] != "hello",
                "seq goes up"
            );
            self.last_seq = seq;
            if v["type"] != "heartbeat" {
                return v;
            }
        }
    }

    /// The next server frame, heartbeats included.
    pub async fn next_any(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(TIMEOUT, self.stream.next())
                .await
                .expect("no frame within the timeout")
                .expect("websocket closed")
                .expect("websocket error");
            if let Message::Text(t) = msg {
                return serde_json::from_str(t.as_str()).unwrap();
            }
        }
    }

    /// The next frame, which must have this type.
    pub async fn expect(&mut self, kind: &str) -> Value {
        let v = self.next().await;
        assert_eq!(v["type"], kind, "expected {kind}, got {v}");
        v
    }

    /// The server closes the connection (after any frames still queued).
    pub async fn expect_closed(&mut self) {
        loop {
            match tokio::time::timeout(TIMEOUT, self.stream.next())
                .await
                .expect("not closed within the timeout")
            {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}
