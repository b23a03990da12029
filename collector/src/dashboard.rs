//! Serves the web dashboard (`dashboards/web/`), embedded in the binary at compile time.
//!
//! The dashboard is plain HTML, CSS and JavaScript with no build step, so embedding the
//! files as they are in the repository is all the packaging it needs: one binary, nothing
//! to install next to it, and the pages always match the API of the collector serving them.
//! Files are looked up in a fixed table, never on the filesystem, so no request path can
//! reach anything but the listed files.
//!
//! Caching: HTML is `no-cache` (always revalidated, so an upgraded collector is picked up
//! at once); assets may be reused for a minute because their URLs carry no version.
//! Every file has a strong `ETag`, so revalidation costs a `304` and no body.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::LazyLock;

/// One embedded file, by its path below `dashboards/web/`.
struct WebFile {
    path: &'static str,
    bytes: &'static [u8],
}

macro_rules! web_file {
    ($path:literal) => {
        WebFile {
            path: $path,
            bytes: include_bytes!(concat!("../../dashboards/web/", $path)),
        }
    };
}

/// Every file the dashboard serves. A test checks that each file in `dashboards/web/`
/// (except READMEs) is listed here, so a new asset cannot be forgotten.
const FILES: &[WebFile] = &[
    web_file!("index.html"),
    web_file!("host.html"),
    web_file!("firmware.html"),
    web_file!("assets/app.css"),
    web_file!("assets/app.js"),
    web_file!("assets/charts.js"),
    web_file!("assets/fleet.js"),
    web_file!("assets/host.js"),
    web_file!("assets/hardware.js"),
    web_file!("assets/host-hardware.js"),
    web_file!("assets/firmware.js"),
    web_file!("assets/favicon.svg"),
    web_file!("assets/vendor/uplot/uPlot.iife.min.js"),
    web_file!("assets/vendor/uplot/uPlot.min.css"),
    web_file!("assets/vendor/uplot/LICENSE"),
];

/// Pages may load scripts, styles and images from this origin only and talk to its API.
/// Hostnames, labels and messages come from agents; should one ever slip into markup
/// unescaped, this policy still refuses to run it.
const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

const HTML_CACHE: &str = "no-cache";
const ASSET_CACHE: &str = "public, max-age=60";

/// Strong ETags, computed once from the embedded bytes (index-aligned with [`FILES`]).
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|file| {
            HeaderValue::from_str(&format!("\"{:016x}\"", fnv1a(file.bytes)))
                .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
        })
        .collect()
});

/// FNV-1a: a content fingerprint for cache validation, not a security measure.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The dashboard's routes: `/`, `/index.html`, `/host.html`, `/firmware.html` and `/assets/*`.
/// Stateless, so it merges into the collector's router whatever its state type.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index_page))
        .route("/index.html", get(index_page))
        .route("/host.html", get(host_page))
        .route("/firmware.html", get(firmware_page))
        .route("/assets/{*path}", get(asset))
}

async fn index_page(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn host_page(headers: HeaderMap) -> Response {
    serve("host.html", &headers)
}

async fn firmware_page(headers: HeaderMap) -> Response {
    serve("firmware.html", &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&format!("assets/{path}"), &headers)
}

fn serve(path: &str, request_headers: &HeaderMap) -> Response {
    let Some(index) = FILES.iter().position(|file| file.path == path) else {
        tracing::debug!(path, "unknown dashboard file");
        return (
            StatusCode::NOT_FOUND,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                ),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
            ],
            format!("not found: /{path}\n"),
        )
            .into_response();
    };
    let file = &FILES[index];
    let etag = ETAGS[index].clone();
    let is_html = path.ends_with(".html");

    let mut response = if etag_matches(request_headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = file.bytes.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(path)),
        );
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag);
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if is_html { HTML_CACHE } else { ASSET_CACHE }),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if is_html {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_CSP),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
    }
    response
}

/// `If-None-Match` per RFC 9110 §13.1.2: weak comparison, a list, or `*`.
fn etag_matches(request_headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let ours = etag.as_bytes();
    request_headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/").as_bytes() == ours)
}

fn content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("txt") => "text/plain; charset=utf-8",
        // Licence files have no extension.
        None if name == "LICENSE" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use std::path::{Path as FsPath, PathBuf};
    use tower::ServiceExt;

    struct Answer {
        status: StatusCode,
        headers: HeaderMap,
        body: Vec<u8>,
    }

    async fn get_with(uri: &str, headers: &[(header::HeaderName, &str)]) -> Answer {
        let mut request = Request::builder().uri(uri);
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        let request = request.body(Body::empty()).expect("request builds");
        let response = router::<()>()
            .oneshot(request)
            .await
            .expect("router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body reads");
        Answer {
            status,
            headers,
            body: body.to_vec(),
        }
    }

    async fn get(uri: &str) -> Answer {
        get_with(uri, &[]).await
    }

    fn header(answer: &Answer, name: header::HeaderName) -> &str {
        answer
            .headers
            .get(&name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn web_dir() -> PathBuf {
        FsPath::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards/web")
    }

    fn read_page(name: &str) -> String {
        let path = web_dir().join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    }

    /// Every `src="…"` and `href="…"` attribute value in a page.
    fn references(html: &str) -> Vec<String> {
        let mut found = Vec::new();
        for attr in [" src=\"", " href=\""] {
            let mut rest = html;
            while let Some(at) = rest.find(attr) {
                rest = &rest[at + attr.len()..];
                let end = rest.find('"').expect("attribute value is closed");
                found.push(rest[..end].to_string());
                rest = &rest[end..];
            }
        }
        found
    }

    /// Resolves a page-relative reference against `/`, as a browser does for a page at the root.
    fn resolve(reference: &str) -> String {
        let path = reference.split(['?', '#']).next().unwrap_or("");
        let path = path.strip_prefix("./").unwrap_or(path);
        format!("/{}", path.trim_start_matches('/'))
    }

    #[tokio::test]
    async fn pages_are_html_revalidated_and_locked_down() {
        for (uri, file) in [
            ("/", "index.html"),
            ("/index.html", "index.html"),
            ("/host.html", "host.html"),
            ("/host.html?id=abc&range=6h", "host.html"),
            ("/firmware.html", "firmware.html"),
            ("/firmware.html?kind=bmc", "firmware.html"),
        ] {
            let answer = get(uri).await;
            assert_eq!(answer.status, StatusCode::OK, "{uri}");
            assert_eq!(
                header(&answer, header::CONTENT_TYPE),
                "text/html; charset=utf-8",
                "{uri}"
            );
            assert_eq!(header(&answer, header::CACHE_CONTROL), "no-cache", "{uri}");
            assert_eq!(
                header(&answer, header::X_CONTENT_TYPE_OPTIONS),
                "nosniff",
                "{uri}"
            );
            assert!(
                header(&answer, header::CONTENT_SECURITY_POLICY).contains("script-src 'self'"),
                "{uri}"
            );
            assert_eq!(
                answer.body,
                read_page(file).into_bytes(),
                "{uri} serves {file}"
            );
        }
    }

    #[tokio::test]
    async fn every_asset_referenced_by_a_page_is_served() {
        for page in ["index.html", "host.html", "firmware.html"] {
            let html = read_page(page);
            let refs = references(&html);
            assert!(
                refs.iter().any(|r| r == "assets/app.js")
                    && refs.iter().any(|r| r == "assets/app.css"),
                "{page} should load the shared assets; found {refs:?}"
            );
            for reference in refs {
                assert!(
                    !reference.contains("//"),
                    "{page} references another origin ({reference}); the browser may have no internet"
                );
                if reference.starts_with('#') {
                    continue;
                }
                let uri = resolve(&reference);
                let answer = get(&uri).await;
                assert_eq!(
                    answer.status,
                    StatusCode::OK,
                    "{page} references {reference} ({uri})"
                );
                assert!(!answer.body.is_empty(), "{uri} is empty");
                let ct = header(&answer, header::CONTENT_TYPE);
                if uri.ends_with(".js") {
                    assert_eq!(ct, "text/javascript; charset=utf-8", "{uri}");
                } else if uri.ends_with(".css") {
                    assert_eq!(ct, "text/css; charset=utf-8", "{uri}");
                }
            }
        }
    }

    #[tokio::test]
    async fn every_file_in_the_web_directory_is_embedded() {
        fn walk(dir: &FsPath, out: &mut Vec<PathBuf>) {
            let entries =
                std::fs::read_dir(dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
            for entry in entries {
                let path = entry.expect("directory entry").path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let root = web_dir();
        let mut files = Vec::new();
        walk(&root, &mut files);
        let mut checked = 0;
        for path in files {
            if path.file_name().is_some_and(|n| n == "README.md") {
                continue;
            }
            let relative = path
                .strip_prefix(&root)
                .expect("under the web dir")
                .to_string_lossy()
                .replace('\\', "/");
            let answer = get(&format!("/{relative}")).await;
            assert_eq!(
                answer.status,
                StatusCode::OK,
                "{relative} is not in dashboard::FILES"
            );
            let on_disk = std::fs::read(&path).expect("read web file");
            assert_eq!(answer.body, on_disk, "{relative}");
            checked += 1;
        }
        assert_eq!(
            checked,
            FILES.len(),
            "FILES lists something that is not on disk"
        );
    }

    #[tokio::test]
    async fn assets_have_their_content_type_and_a_short_cache() {
        for (uri, expected) in [
            ("/assets/app.css", "text/css; charset=utf-8"),
            ("/assets/app.js", "text/javascript; charset=utf-8"),
            (
                "/assets/vendor/uplot/uPlot.iife.min.js",
                "text/javascript; charset=utf-8",
            ),
            ("/assets/favicon.svg", "image/svg+xml"),
            ("/assets/vendor/uplot/LICENSE", "text/plain; charset=utf-8"),
        ] {
            let answer = get(uri).await;
            assert_eq!(answer.status, StatusCode::OK, "{uri}");
            assert_eq!(header(&answer, header::CONTENT_TYPE), expected, "{uri}");
            assert_eq!(header(&answer, header::CACHE_CONTROL), ASSET_CACHE, "{uri}");
            assert_eq!(
                header(&answer, header::X_CONTENT_TYPE_OPTIONS),
                "nosniff",
                "{uri}"
            );
        }
    }

    #[tokio::test]
    async fn unknown_files_are_404() {
        for uri in [
            "/assets/nope.js",
            "/assets/vendor/uplot/README.md",
            "/assets/../Cargo.toml",
            "/assets/%2e%2e/index.html",
            "/assets/app.js/",
            "/dashboard.rs",
        ] {
            let answer = get(uri).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{uri}");
        }
        let answer = get("/assets/missing.css").await;
        assert_eq!(header(&answer, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert!(
            String::from_utf8_lossy(&answer.body).contains("/assets/missing.css"),
            "the 404 names the file"
        );
    }

    #[tokio::test]
    async fn a_matching_etag_revalidates_without_a_body() {
        let first = get("/assets/app.js").await;
        let etag = header(&first, header::ETAG).to_string();
        assert!(
            etag.starts_with('"') && etag.len() > 2,
            "strong etag: {etag}"
        );

        let again = get_with("/assets/app.js", &[(header::IF_NONE_MATCH, &etag)]).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
        assert!(again.body.is_empty());
        assert_eq!(header(&again, header::ETAG), etag);

        let listed = format!("\"other\", W/{etag}");
        let weak = get_with("/assets/app.js", &[(header::IF_NONE_MATCH, &listed)]).await;
        assert_eq!(weak.status, StatusCode::NOT_MODIFIED);

        let stale = get_with("/assets/app.js", &[(header::IF_NONE_MATCH, "\"0123\"")]).await;
        assert_eq!(stale.status, StatusCode::OK);
        assert_eq!(stale.body, first.body);

        let other = get("/host.html").await;
        assert_ne!(
            header(&other, header::ETAG),
            etag,
            "different files, different etags"
        );
    }

    #[test]
    fn references_finds_scripts_and_links() {
        let refs = references(
            r#"<link rel="stylesheet" href="assets/a.css"><script src="assets/b.js" defer></script><a href="./">x</a>"#,
        );
        assert_eq!(refs, vec!["assets/b.js", "assets/a.css", "./"]);
        assert_eq!(resolve("./"), "/");
        assert_eq!(resolve("host.html?id=1"), "/host.html");
    }
}
