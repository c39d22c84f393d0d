//! corral's dashboard at `/dashboard/`: one page, a script and a style sheet, embedded in
//! the binary (no build step, no framework, nothing fetched from elsewhere). The page
//! reads `/api/v1/processes`-shaped objects from the event stream (`/api/v1/events`),
//! acts through the JSON API, and reads logs through it; it has no server-side state of
//! its own. supervisord's own page stays at `/`.

use corral_proto::http::{Request, Response};

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("app.css");
const ICON: &str = include_str!("icon.svg");

/// Answer a request under `/dashboard`.
pub fn serve(req: &Request) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        return Response::error_page(405).header("Allow", "GET, HEAD");
    }
    let (body, kind) = match req.path() {
        "/dashboard" => {
            return Response::new(301)
                .header("Location", "/dashboard/")
                .header("Content-Type", "text/html")
                .body(Response::error_page(301).body);
        }
        "/dashboard/" | "/dashboard/index.html" => (INDEX, "text/html; charset=utf-8"),
        "/dashboard/app.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "/dashboard/app.css" => (STYLE, "text/css; charset=utf-8"),
        "/dashboard/icon.svg" => (ICON, "image/svg+xml"),
        _ => return Response::error_page(404),
    };
    let resp = Response::new(200)
        .header("Content-Type", kind)
        // The assets change with the binary: revalidate, but they're small.
        .header("Cache-Control", "no-cache")
        .header("X-Content-Type-Options", "nosniff")
        .header(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             connect-src 'self'; frame-ancestors 'none'",
        );
    if req.method == "HEAD" {
        return resp.header("Content-Length", body.len().to_string());
    }
    resp.body(body)
}
