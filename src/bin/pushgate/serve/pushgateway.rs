//! `pushgate serve --mode pushgateway`: a [`GroupGateway`] on the
//! listener, its groups loaded from and saved to a snapshot file.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use pushgate::gateway::GatewayBody;
use pushgate::matcher::Matcher;
use pushgate::pushgateway::GroupGateway;
use pushgate::store::GroupStore;
use tokio::net::TcpListener;
use tower::Service;

use super::{serve, text, ServeArgs, Signals};

pub(super) async fn run(
    args: &ServeArgs,
    listener: TcpListener,
    addr: SocketAddr,
    threads: String,
    signals: &mut Signals,
) -> ExitCode {
    let groups = &args.groups;
    let mut store = GroupStore::builder();
    if let Some(ttl) = groups.group_ttl {
        store = store.ttl(ttl);
    }
    if let Some(max) = groups.max_groups {
        store = store.max_groups(max);
    }
    if let Some(max) = groups.max_series {
        store = store.max_series(max);
    }
    for prefix in &groups.aggregate {
        store = store.aggregate(prefix.iter().cloned());
    }
    let mut builder = GroupGateway::builder(store)
        .admin_api(groups.enable_admin_api)
        .partial_delete(groups.enable_partial_delete)
        .max_bytes(args.max_bytes)
        .timeout(args.timeout)
        .flags(flags(args));
    if !args.families.is_empty() {
        let matcher = args
            .families
            .iter()
            .fold(Matcher::new(), |m, name| m.family(name.as_str()));
        builder = builder.transformer(matcher);
    }
    let gateway = builder
        .build()
        .expect("a gateway's own registry takes its metrics");
    let store = gateway.store().clone();

    let file =
        (!groups.persistence_file.as_os_str().is_empty()).then(|| groups.persistence_file.clone());
    if let Some(file) = &file {
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Err(error) = std::fs::create_dir_all(dir) {
                eprintln!("pushgate serve: cannot create {}: {error}", dir.display());
                return ExitCode::FAILURE;
            }
        }
        match store.load(file) {
            Ok(Some(n)) => tracing::info!(
                target: "pushgate::serve",
                "loaded {n} group{} from {}",
                if n == 1 { "" } else { "s" },
                file.display()
            ),
            Ok(None) => {}
            Err(error) => {
                eprintln!("pushgate serve: {error}; move it away to start without its groups");
                return ExitCode::FAILURE;
            }
        }
    }
    let saver = file
        .clone()
        .map(|file| tokio::spawn(save_every(store.clone(), file, groups.persistence_interval)));

    tracing::info!(
        target: "pushgate::serve",
        "listening on http://{addr} (Pushgateway mode, {} groups, persistence {}, \
         max {} bytes, timeout {:?}, {threads})",
        store.len(),
        file.as_deref()
            .map_or("off".to_owned(), |f| format!("{} every {:?}", f.display(), groups.persistence_interval)),
        args.max_bytes,
        args.timeout,
    );
    let code = serve(listener, WithHealthz(gateway), args.timeout, signals).await;
    if let Some(saver) = saver {
        saver.abort();
    }
    if let Some(file) = &file {
        // The last changes, whatever the exit.
        match save(&store, file.clone()).await {
            Ok(()) => tracing::info!(
                target: "pushgate::serve",
                "saved {} groups to {}",
                store.len(),
                file.display()
            ),
            Err(error) => {
                tracing::error!(target: "pushgate::serve", %error, "saving the groups failed");
                return ExitCode::FAILURE;
            }
        }
    }
    if code == ExitCode::SUCCESS {
        tracing::info!(target: "pushgate::serve", "stopped");
    }
    code
}

/// Saves the groups every `interval` when they changed.
async fn save_every(store: GroupStore, file: PathBuf, interval: Duration) {
    let mut saved = store.generation();
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let generation = store.generation();
        if generation == saved {
            continue;
        }
        match save(&store, file.clone()).await {
            Ok(()) => saved = generation,
            Err(error) => tracing::error!(
                target: "pushgate::serve",
                %error,
                "saving the groups failed; trying again in {interval:?}"
            ),
        }
    }
}

/// Saves off the async workers: a large store takes a while to write.
async fn save(store: &GroupStore, file: PathBuf) -> Result<(), String> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || store.save(Path::new(&file)).map_err(|e| e.to_string()))
        .await
        .map_err(|e| e.to_string())?
}

/// The flags `/api/v1/status` shows.
fn flags(args: &ServeArgs) -> Vec<(String, String)> {
    let g = &args.groups;
    let duration = |d: Option<Duration>| d.map_or(String::new(), |d| format!("{d:?}"));
    let number = |n: Option<usize>| n.map_or(String::new(), |n| n.to_string());
    vec![
        ("listen".into(), args.listen.clone()),
        ("mode".into(), "pushgateway".into()),
        (
            "persistence-file".into(),
            g.persistence_file.display().to_string(),
        ),
        (
            "persistence-interval".into(),
            format!("{:?}", g.persistence_interval),
        ),
        ("group-ttl".into(), duration(g.group_ttl)),
        ("max-groups".into(), number(g.max_groups)),
        ("max-series".into(), number(g.max_series)),
        (
            "aggregate".into(),
            g.aggregate
                .iter()
                .map(|p| {
                    pushgate::grouping::path(
                        p[0].value(),
                        p[1..].iter().map(|l| (l.name(), l.value())),
                    )
                })
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("enable-admin-api".into(), g.enable_admin_api.to_string()),
        (
            "enable-partial-delete".into(),
            g.enable_partial_delete.to_string(),
        ),
        ("max-bytes".into(), args.max_bytes.to_string()),
        ("timeout".into(), format!("{:?}", args.timeout)),
        ("family".into(), args.families.join(",")),
    ]
}

/// `GET /healthz` as in gateway mode, beside the Pushgateway's `/-/healthy`.
#[derive(Clone)]
struct WithHealthz(GroupGateway);

impl Service<Request<Incoming>> for WithHealthz {
    type Response = Response<GatewayBody>;
    type Error = Infallible;
    type Future = <GroupGateway as Service<Request<Incoming>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<Request<Incoming>>::poll_ready(&mut self.0, cx)
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        if req.uri().path() == "/healthz" && req.method() == Method::GET {
            return pushgate::gateway::respond::RespondFuture::ready(text(
                StatusCode::OK,
                "ok\n".into(),
            ));
        }
        self.0.call(req)
    }
}
