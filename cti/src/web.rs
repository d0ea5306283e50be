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
/// the server; sounds fetched by the page (a prompt played) as `blob:`.
const CSP: &str = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; \
                   media-src 'self' blob:; style-src 'self'; script-src 'self'; \
                   base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// `GET /`: the navigator's desk.
pub(crate) async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// `GET /reports`: the reports (supervisors and operations staff).
pub(crate) async fn reports(headers: HeaderMap) -> Response {
    serve("reports.html", &headers)
}

/// `GET /supervisor`: the wallboard (supervisors and operations staff).
pub(crate) async fn supervisor(headers: HeaderMap) -> Response {
    serve("supervisor.html", &headers)
}

/// `GET /ops`: the operations console (operations staff).
pub(crate) async fn ops(headers: HeaderMap) -> Response {
    serve("ops.html", &headers)
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
        for (page, html) in [
            ("index.html", include_str!("../web/index.html")),
            ("reports.html", include_str!("../web/reports.html")),
            ("supervisor.html", include_str!("../web/supervisor.html")),
            ("ops.html", include_str!("../web/ops.html")),
        ] {
            for used in html.split("data-i18n=\"").skip(1) {
                let key = used.split('"').next().unwrap_or_default();
                assert!(
                    en.contains(key),
                    "{page} uses {key:?}, which no catalogue has"
                );
            }
        }
    }

    /// What follows each call of the function `name` with a string first
    /// argument (`name("`, not `other_name("` nor `x.name("`).
    fn calls<'a>(script: &'a str, name: &str) -> Vec<&'a str> {
        let needle = format!("{name}(\"");
        script
            .match_indices(&needle)
            .filter(|(at, _)| {
                !script[..*at]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
            })
            .map(|(at, _)| &script[at + needle.len()..])
            .collect()
    }

    /// The keys a script names in full: `t("key"` and `label("prefix", "code"`.
    fn keys_named_in(script: &str) -> Vec<String> {
        let mut keys: Vec<String> = calls(script, "t")
            .into_iter()
            .filter_map(|s| s.split_once('"').map(|(k, _)| k.to_string()))
            .collect();
        for call in calls(script, "label") {
            let mut parts = call.splitn(3, '"');
            let (Some(prefix), Some(between), Some(rest)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if between.trim() == ","
                && let Some((code, _)) = rest.split_once('"')
            {
                keys.push(format!("{prefix}.{code}"));
            }
        }
        keys
    }

    #[test]
    fn the_wallboard_has_words_for_every_key_it_names_and_every_code_it_shows() {
        let en: BTreeSet<String> = keys(include_str!("../web/i18n/en.js"))
            .into_iter()
            .collect();
        let script = concat!(
            include_str!("../web/supervisor.js"),
            include_str!("../web/ops.js")
        );
        let named = keys_named_in(script);
        assert!(named.len() > 30, "the wallboard names {} keys", named.len());
        for key in named {
            assert!(
                en.contains(&key),
                "supervisor.js uses {key:?}, which no catalogue has"
            );
        }
        // The codes it shows through `label(prefix, code)`.
        let mut codes: Vec<String> = ["crisis_waiting", "callback_failed", "service_level"]
            .iter()
            .chain(&["long_wrap_up", "long_not_ready"])
            .map(|k| format!("board.alert_kind.{k}"))
            .collect();
        for state in ["waiting", "offered", "dialling", "callback"] {
            codes.push(format!("board.call_state.{state}"));
        }
        for role in ["navigator", "supervisor", "ops"] {
            codes.push(format!("board.role.{role}"));
        }
        for lang in ["en", "fr"] {
            codes.push(format!("board.lang.{lang}"));
        }
        for conn in ["connecting", "connected", "reconnecting", "offline"] {
            codes.push(format!("conn.{conn}"));
        }
        for code in codes {
            assert!(en.contains(&code), "no words for {code}");
        }
    }

    #[test]
    fn the_reports_page_has_words_for_every_report_column_and_key_it_uses() {
        let en: BTreeSet<String> = keys(include_str!("../web/i18n/en.js"))
            .into_iter()
            .collect();
        let script = include_str!("../web/reports.js");
        for key in keys_named_in(script) {
            assert!(
                en.contains(&key),
                "reports.js uses {key:?}, which no catalogue has"
            );
        }
        // Every report and every column of the contract's table
        // (docs/reports.md: `| `kind` | rows | `col`, `col` |`), and the
        // period every report starts with.
        let contract = include_str!("../../docs/reports.md");
        let mut kinds = 0;
        for line in contract.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let kind = cells[1].trim_matches('`');
            kinds += 1;
            for key in [
                format!("reports.kind.{kind}"),
                format!("reports.help.{kind}"),
            ] {
                assert!(en.contains(&key), "no words for the report {kind}: {key}");
            }
            for column in cells[3].split('`').skip(1).step_by(2) {
                let key = format!("reports.col.{column}");
                assert!(
                    en.contains(&key),
                    "no words for {kind}'s column {column}: {key}"
                );
            }
        }
        assert_eq!(
            kinds,
            crate::reports::Kind::ALL.len(),
            "the contract's table of reports does not list every report"
        );
        for key in [
            "reports.col.period",
            "reports.queue.crisis",
            "reports.dim.inquirer",
            "reports.dim.age_band",
            "reports.dim.gender",
            "reports.dim.area",
            "reports.filter.by_day",
            "reports.filter.by_week",
            "reports.filter.by_month",
            "reports.filter.by_whole",
            "reports.filter.split_region",
            "reports.filter.split_centre",
        ] {
            assert!(en.contains(key), "no words for {key}");
        }
    }
}
