//! The control plane: supervisord's HTTP servers (`[unix_http_server]`,
//! `[inet_http_server]`) serving XML-RPC on `/RPC2`, log tails on `/logtail/…` and
//! `/mainlogtail`, and supervisord's web interface on every other path, so supervisorctl,
//! superlance, every tool built on that API and a browser work against corrald unchanged.
//! corral adds, on the same servers and credentials: Prometheus metrics (`/metrics`), a
//! JSON API with a live event stream (`/api/v1/…`, `api/`), and a dashboard
//! (`/dashboard/`, `dashboard/`).

mod api;
mod args;
mod auth_guard;
mod conn;
mod corral;
mod dashboard;
mod dispatch;
mod error;
mod health_endpoint;
mod limits;
mod logtail;
mod metrics;
mod server;
mod supervisor;
mod system;
mod web;

pub use server::{Auth, Listeners, ServerExport, Servers, serve};
