//! The providers: axum services run by `sae_governance::Provider`, started,
//! stopped through preStop, or killed.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use sae::core::{Instance, InstanceId, Registry};
use sae::governance::provider::{Provider, ServeReport};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How providers behave in a scenario.
#[derive(Clone, Copy, Debug)]
pub struct Behaviour {
    /// Stamp the offline notice and keep a notice window (sae), or
    /// deregister and close at once (what frameworks do today).
    pub lossless: bool,
    /// How long each request takes to serve: real handlers do work, and the
    /// in-flight count at a kill depends on it.
    pub work: Duration,
}

/// One running provider.
pub struct RunningProvider {
    /// Its instance id.
    pub id: InstanceId,
    /// The address it serves on.
    pub addr: std::net::SocketAddr,
    admin: std::net::SocketAddr,
    serve: JoinHandle<Result<ServeReport, sae::core::Error>>,
}

/// What stopping one provider measured.
pub struct Stopped {
    /// The provider's instance id.
    pub id: InstanceId,
    /// From the preStop call until the provider's serve call returned.
    pub stop_time: Duration,
    /// When the preStop call was sent: the provider enters Draining on it,
    /// so awareness measured from here is an upper bound.
    pub prestop_at: Instant,
}

/// The response header through which the demo's providers say who answered.
pub const SERVED_BY: &str = "x-demo-instance";

/// Starts providers of one service and stops them.
pub struct Fleet {
    registry: Arc<dyn Registry>,
    service: String,
    behaviour: Behaviour,
}

impl Fleet {
    /// A fleet of `service` providers registered in `registry`.
    pub fn new(registry: Arc<dyn Registry>, service: String, behaviour: Behaviour) -> Fleet {
        Fleet {
            registry,
            service,
            behaviour,
        }
    }

    /// Starts one provider and returns once the registry lists it.
    pub async fn start(&self) -> Result<RunningProvider, sae::core::Error> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| sae::core::Error::io("binding a provider listener", e))?;
        let admin = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| sae::core::Error::io("binding an admin listener", e))?;
        let admin_addr = admin
            .local_addr()
            .map_err(|e| sae::core::Error::io("reading the admin address", e))?;
        let mut instance = Instance::builder(self.service.clone());
        if self.behaviour.lossless {
            // Lossless start: new instances ramp up instead of taking a full share cold.
            instance = instance.warmup(Duration::from_secs(3));
        }
        let addr = listener
            .local_addr()
            .map_err(|e| sae::core::Error::io("reading the provider address", e))?;
        let mut builder = Provider::builder(instance, self.registry.clone())
            .admin_listener(admin)
            .handle_signals(false)
            .notice_quiet_period(Duration::from_millis(500));
        if !self.behaviour.lossless {
            builder = builder.offline_notice(false);
        }
        let provider = builder.build()?;
        let id = provider.id().clone();

        let work = self.behaviour.work;
        let served_by = [(SERVED_BY, id.to_string())];
        let app = Router::new().route(
            "/work",
            get(move || async move {
                tokio::time::sleep(work).await;
                (served_by, "done")
            }),
        );
        let mut registered = self
            .registry
            .watch(&sae::core::ServiceName::new(&self.service)?)
            .await?;
        let serve = tokio::spawn(provider.serve_router(listener, app));
        // Started means registered: wait until the registry announces it.
        use futures_util::StreamExt;
        while let Some(event) = registered.next().await {
            let seen = match &event {
                sae::core::WatchEvent::Snapshot(s) => {
                    s.instances.iter().any(|e| e.instance.id() == &id)
                }
                sae::core::WatchEvent::Upsert(e) => e.instance.id() == &id,
                sae::core::WatchEvent::Remove { .. } => false,
            };
            if seen {
                break;
            }
        }
        Ok(RunningProvider {
            id,
            addr,
            admin: admin_addr,
            serve,
        })
    }
}

impl RunningProvider {
    /// Stops the provider the way Kubernetes does: `GET /prestop` on its
    /// admin listener, then waits for it to exit.
    pub async fn stop(self) -> Stopped {
        let provider = self;
        let started = Instant::now();
        if let Err(error) = prestop(provider.admin).await {
            eprintln!("preStop call to {} failed: {error}", provider.admin);
        }
        match provider.serve.await {
            Ok(Ok(_report)) => {}
            Ok(Err(error)) => eprintln!("provider {} failed: {error}", provider.id),
            Err(error) => eprintln!("provider {} panicked: {error}", provider.id),
        }
        let stop_time = started.elapsed();
        Stopped {
            id: provider.id,
            stop_time,
            prestop_at: started,
        }
    }

    /// Kills the provider abruptly: its serve task is aborted, so its
    /// connections drop and its registration is left to expire, as with `kill -9`.
    pub async fn kill(self) {
        self.serve.abort();
        let _ = self.serve.await;
    }
}

/// `GET /prestop` over a plain HTTP/1 connection; returns when it answered,
/// which is when the provider's notice window is over.
async fn prestop(
    admin: std::net::SocketAddr,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use http_body_util::Empty;
    let stream = tokio::net::TcpStream::connect(admin).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = http::Request::get("/prestop")
        .header(http::header::HOST, admin.to_string())
        .body(Empty::<bytes::Bytes>::new())?;
    let response = sender.send_request(request).await?;
    if !response.status().is_success() {
        return Err(format!("preStop answered {}", response.status()).into());
    }
    Ok(())
}
