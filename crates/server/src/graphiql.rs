//! GraphiQL, the in-browser GraphQL IDE, served from the binary itself.
//!
//! Every file the page needs (GraphiQL 4 and React 18 browser bundles, the
//! stylesheet with its inlined fonts, the bootstrap script) is embedded with
//! `include_bytes!`/`include_str!` from `crates/server/assets/graphiql/`, so the
//! IDE works offline and behind firewalls, loads nothing from a CDN (no third
//! party sees who uses it, no supply-chain surprise at page load), always
//! matches the server version, and can run under a strict
//! `Content-Security-Policy` that only allows this origin. See
//! `assets/graphiql/README.md` for where the files come from and how to refresh
//! them.
//!
//! Routes:
//! - `GET /graphiql`: the HTML page (`Cache-Control: no-cache`, CSP, nosniff);
//! - `GET /graphiql/assets/{file}`: one embedded file (cached for a day), 404
//!   for a name not in the `ASSETS` table.

use axum::{
    Router,
    extract::Path,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

/// Content-Security-Policy of the GraphiQL page: everything from this origin,
/// no inline script or style. `data:` is for the fonts and images inlined in
/// `graphiql.min.css`; `ws:`/`wss:` for subscriptions on `/graphql/ws`.
///
/// Known and harmless: opening a GraphiQL dialog (settings, shortcuts) makes
/// `react-remove-scroll` inject a `<style>` that locks page scrolling; the
/// browser blocks it and logs a CSP error, but `page.css` already sets
/// `overflow: hidden` on the page, so nothing changes. Styles React sets
/// through the DOM (`element.style`) are not affected by `style-src`.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; \
     script-src 'self'; \
     style-src 'self'; \
     img-src 'self' data:; \
     font-src 'self' data:; \
     connect-src 'self' ws: wss:; \
     frame-ancestors 'none'; \
     base-uri 'none'; \
     form-action 'none'";

const INDEX_HTML: &str = include_str!("../assets/graphiql/index.html");

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const ASSET_CACHE_CONTROL: &str = "public, max-age=86400";

/// One embedded file served under `/graphiql/assets/`.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

/// Every file `index.html` may load, by the name used in its URL.
static ASSETS: &[Asset] = &[
    Asset {
        name: "react.production.min.js",
        content_type: JS,
        bytes: include_bytes!("../assets/graphiql/react.production.min.js"),
    },
    Asset {
        name: "react-dom.production.min.js",
        content_type: JS,
        bytes: include_bytes!("../assets/graphiql/react-dom.production.min.js"),
    },
    Asset {
        name: "graphiql.min.js",
        content_type: JS,
        bytes: include_bytes!("../assets/graphiql/graphiql.min.js"),
    },
    Asset {
        name: "graphiql.min.css",
        content_type: CSS,
        bytes: include_bytes!("../assets/graphiql/graphiql.min.css"),
    },
    Asset {
        name: "page.css",
        content_type: CSS,
        bytes: include_bytes!("../assets/graphiql/page.css"),
    },
    Asset {
        name: "init.js",
        content_type: JS,
        bytes: include_bytes!("../assets/graphiql/init.js"),
    },
];

/// Routes `GET /graphiql` and `GET /graphiql/assets/{file}`; needs no state.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/graphiql", get(index))
        .route("/graphiql/assets/{file}", get(asset))
}

async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        INDEX_HTML,
    )
        .into_response()
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|asset| asset.name == file) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, asset.content_type),
                (header::CACHE_CONTROL, ASSET_CACHE_CONTROL),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            asset.bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such GraphiQL asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    const PREFIX: &str = "/graphiql/assets/";

    async fn fetch(uri: &str) -> Result<Response, Box<dyn std::error::Error>> {
        let request = Request::builder().uri(uri).body(Body::empty())?;
        Ok(router::<()>().oneshot(request).await?)
    }

    fn header_str(response: &Response, name: header::HeaderName) -> &str {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
    }

    /// File names the embedded HTML loads from `/graphiql/assets/`, found by
    /// plain string search so the test breaks if HTML and table drift apart.
    fn referenced_assets() -> Vec<&'static str> {
        let mut names = Vec::new();
        let mut rest = INDEX_HTML;
        while let Some(start) = rest.find(PREFIX) {
            rest = &rest[start + PREFIX.len()..];
            let end = rest
                .find(|c: char| matches!(c, '"' | '\'' | '?' | '#' | '>') || c.is_whitespace())
                .unwrap_or(rest.len());
            names.push(&rest[..end]);
            rest = &rest[end..];
        }
        names
    }

    #[tokio::test]
    async fn page_is_served_with_csp() -> TestResult {
        let response = fetch("/graphiql").await?;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header_str(&response, header::CONTENT_TYPE),
            "text/html; charset=utf-8"
        );
        assert_eq!(
            header_str(&response, header::CONTENT_SECURITY_POLICY),
            CONTENT_SECURITY_POLICY
        );
        assert!(CONTENT_SECURITY_POLICY.contains("script-src 'self';"));
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
        assert!(CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'"));
        assert_eq!(header_str(&response, header::CACHE_CONTROL), "no-cache");
        assert_eq!(
            header_str(&response, header::X_CONTENT_TYPE_OPTIONS),
            "nosniff"
        );
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
        assert_eq!(body.as_ref(), INDEX_HTML.as_bytes());
        // The CSP forbids inline scripts: every <script> must load a file.
        assert_eq!(
            INDEX_HTML.matches("<script").count(),
            INDEX_HTML
                .matches("<script src=\"/graphiql/assets/")
                .count()
        );
        assert!(!INDEX_HTML.contains("<style"));
        assert!(!INDEX_HTML.contains("style="));
        Ok(())
    }

    #[tokio::test]
    async fn every_referenced_asset_is_served() -> TestResult {
        let names = referenced_assets();
        assert!(names.contains(&"graphiql.min.js"), "found {names:?}");
        assert!(names.contains(&"init.js"), "found {names:?}");
        for name in names {
            let response = fetch(&format!("{PREFIX}{name}")).await?;
            assert_eq!(response.status(), StatusCode::OK, "{name}");
            let expected_type = if name.ends_with(".js") {
                JS
            } else if name.ends_with(".css") {
                CSS
            } else {
                panic!("unexpected asset type: {name}")
            };
            assert_eq!(
                header_str(&response, header::CONTENT_TYPE),
                expected_type,
                "{name}"
            );
            assert_eq!(
                header_str(&response, header::CACHE_CONTROL),
                ASSET_CACHE_CONTROL,
                "{name}"
            );
            assert_eq!(
                header_str(&response, header::X_CONTENT_TYPE_OPTIONS),
                "nosniff"
            );
            let body = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
            assert!(!body.is_empty(), "{name} is empty");
        }
        Ok(())
    }

    #[test]
    fn every_embedded_asset_is_referenced() {
        let names = referenced_assets();
        for asset in ASSETS {
            assert!(
                names.contains(&asset.name),
                "{} is embedded but index.html does not load it",
                asset.name
            );
        }
    }

    #[tokio::test]
    async fn unknown_assets_are_not_found() -> TestResult {
        for uri in [
            "/graphiql/assets/nope.js",
            "/graphiql/assets/index.html",
            "/graphiql/assets/..%2FCargo.toml",
            "/graphiql/assets/",
        ] {
            let response = fetch(uri).await?;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{uri}");
        }
        Ok(())
    }
}
