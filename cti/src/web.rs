//! The pages: HTML, CSS and JavaScript modules from `cti/web/`, embedded in
//! release builds (debug builds read the same folder from disk, so a page
//! edit shows on reload). No build step, nothing fetched from elsewhere:
//! every page is sent with a Content-Security-Policy that allows only this
//! origin.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::Embed)]
#[folder = "web/"]
struct Assets;

/// Only this origin: no inline script or style, no CDN, websockets back to
/// the server.
const CSP: &str = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; \
                   style-src 'self'; script-src 'self'; base-uri 'none'; form-action 'self'; \
                   frame-ancestors 'none'";

/// `GET /`: the navigator's desk.
pub(crate) async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// `GET /assets/{path}`: a file of `cti/web/`.
pub(crate) async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let hash = file.metadata.sha256_hash();
    let etag = format!(
        "\"{}\"",
        hash[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, content_type(path))],
            file.data.into_owned(),
        )
            .into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    // Always revalidate: a new engine's pages are used at once, and an
    // unchanged file costs a 304.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if path.ends_with(".html") {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// The keys of a catalogue (`  "key": "text",` lines), in order.
    fn keys(text: &str) -> Vec<String> {
        text.lines()
            .filter_map(|l| l.trim_start().strip_prefix('"'))
            .filter_map(|l| l.split_once("\":").map(|(k, _)| k.to_string()))
            .collect()
    }

    #[test]
    fn both_catalogues_have_the_same_words_once_each_and_the_page_uses_only_those() {
        let en = keys(include_str!("../web/i18n/en.js"));
        let fr = keys(include_str!("../web/i18n/fr.js"));
        for (lang, list) in [("en", &en), ("fr", &fr)] {
            let mut seen = BTreeSet::new();
            let twice: Vec<&String> = list.iter().filter(|k| !seen.insert(*k)).collect();
            assert!(
                twice.is_empty(),
                "{lang}: keys given twice (the last wins): {twice:?}"
            );
        }
        let (en, fr): (BTreeSet<_>, BTreeSet<_>) =
            (en.into_iter().collect(), fr.into_iter().collect());
        assert_eq!(
            en.symmetric_difference(&fr).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "keys in one language only"
        );
        let html = include_str!("../web/index.html");
        for used in html.split("data-i18n=\"").skip(1) {
            let key = used.split('"').next().unwrap_or_default();
            assert!(
                en.contains(key),
                "index.html uses {key:?}, which no catalogue has"
            );
        }
    }
}
