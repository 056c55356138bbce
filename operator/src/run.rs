//! The operator process: metrics and health, leader election through a
//! `coordination.k8s.io` Lease, and the three controllers, which run only while this
//! replica holds the lease.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::runtime::controller::{Action, Controller, Error as ControllerError};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;
use tracing::Instrument;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::metrics::{self, Metrics};
use crate::owned::MANAGED_BY;
use crate::resources::{ApiToken, WebhookEndpoint, Workspace};
use crate::{apitoken, endpoint, workspace};

#[derive(Debug, Clone)]
pub struct Config {
    pub metrics_addr: SocketAddr,
    /// The namespace to watch; every namespace when `None`.
    pub namespace: Option<String>,
    pub lease_namespace: String,
    pub lease_name: String,
    pub identity: String,
    pub lease_seconds: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("leader election: {0}")]
    Lease(#[from] kube_lease_manager::LeaseManagerError),
    #[error("the leader election task ended")]
    LeaseEnded,
    #[error("the controllers stopped")]
    ControllersStopped,
    #[error("metrics server: {0}")]
    Metrics(#[from] std::io::Error),
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    }
}

/// Runs until a shutdown signal; standing by while another replica leads.
pub async fn run(
    config: Config,
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RunError> {
    let metrics = ctx.metrics.clone();
    let listener = tokio::net::TcpListener::bind(config.metrics_addr).await?;
    tokio::spawn(metrics::serve(listener, metrics.clone()));

    let grace = (config.lease_seconds / 3).max(1);
    let manager = LeaseManagerBuilder::new(ctx.client.clone(), &config.lease_name)
        .with_namespace(&config.lease_namespace)
        .with_identity(&config.identity)
        .with_duration(config.lease_seconds)
        .with_grace(grace)
        .build()
        .await?;
    let (mut leading, lease_task) = manager.watch().await;
    tracing::info!(
        identity = %config.identity,
        lease = %config.lease_name,
        "Standing by for the lease"
    );

    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            became = wait_for(&mut leading, true) => became?,
            () = &mut shutdown => break,
        }
        tracing::info!(identity = %config.identity, "Leading: starting the controllers");
        metrics.leader.set(1);
        let mut controllers = tokio::spawn(controllers(ctx.clone(), config.namespace.clone()));
        let outcome = tokio::select! {
            lost = wait_for(&mut leading, false) => lost.map(|()| true),
            () = &mut shutdown => Ok(false),
            _ = &mut controllers => Err(RunError::ControllersStopped),
        };
        controllers.abort();
        let _ = controllers.await;
        metrics.leader.set(0);
        metrics.watches_released();
        match outcome {
            Ok(true) => tracing::warn!("Lost the lease: controllers stopped, standing by"),
            Ok(false) => break,
            Err(error) => return Err(error),
        }
    }

    // Dropping the receiver makes the lease task release the lease, so that a standby
    // replica takes over at once instead of waiting for it to expire.
    drop(leading);
    match lease_task.await {
        Ok(Ok(_)) => tracing::info!("Lease released"),
        Ok(Err(error)) => tracing::warn!(%error, "Could not release the lease"),
        Err(error) => tracing::warn!(%error, "The lease task failed"),
    }
    Ok(())
}

async fn wait_for(leading: &mut watch::Receiver<bool>, wanted: bool) -> Result<(), RunError> {
    leading
        .wait_for(|is_leader| *is_leader == wanted)
        .await
        .map(|_| ())
        .map_err(|_| RunError::LeaseEnded)
}

/// Wraps a reconcile with its span, its metrics and the reset of its backoff.
fn instrumented<K, Fut>(
    kind: &'static str,
    reconcile: fn(Arc<K>, Arc<Context>) -> Fut,
) -> impl FnMut(Arc<K>, Arc<Context>) -> BoxFuture<'static, Result<Action>>
where
    K: Resource + Send + Sync + 'static,
    Fut: Future<Output = Result<Action>> + Send + 'static,
{
    move |object, ctx| {
        let key = object_key(kind, &*object);
        let span = tracing::info_span!(
            "reconcile",
            kind,
            namespace = object.namespace().unwrap_or_default(),
            name = object.name_any()
        );
        async move {
            let started = Instant::now();
            let result = reconcile(object, ctx.clone()).await;
            let error = result.as_ref().err().map(Error::metric_label);
            ctx.metrics.reconciled(kind, started.elapsed(), error);
            if result.is_ok() {
                ctx.succeeded(&key);
            }
            result
        }
        .instrument(span)
        .boxed()
    }
}

fn object_key<K: Resource>(kind: &str, object: &K) -> String {
    format!(
        "{kind}/{}/{}",
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}

/// Each failing object waits on its own exponential backoff; the others go on.
fn error_policy<K: Resource>(
    kind: &'static str,
) -> impl Fn(Arc<K>, &Error, Arc<Context>) -> Action {
    move |object, error, ctx| {
        let wait = ctx.backoff(&object_key(kind, &*object));
        tracing::warn!(
            kind,
            namespace = object.namespace().unwrap_or_default(),
            name = object.name_any(),
            %error,
            retry_in_s = wait.as_secs(),
            "Reconcile failed"
        );
        Action::requeue(wait)
    }
}

/// Follows a controller's results into the watch health, and marks it stopped when its
/// stream ends.
async fn track<K, S>(kind: &'static str, metrics: Arc<Metrics>, results: S)
where
    K: Resource,
    S: futures::Stream<
            Item = Result<(ObjectRef<K>, Action), ControllerError<Error, watcher::Error>>,
        >,
{
    metrics.watch_started(kind);
    let mut results = std::pin::pin!(results);
    while let Some(result) = results.next().await {
        match result {
            Err(ControllerError::QueueError(error)) => {
                tracing::warn!(kind, %error, "Watch failed; retrying");
                metrics.watch_failed(kind);
            }
            Err(ControllerError::RunnerError(error)) => {
                tracing::warn!(kind, %error, "Controller runner failed");
            }
            Ok(_) | Err(_) => metrics.watch_progressed(kind),
        }
    }
    tracing::error!(kind, "Controller stopped");
    metrics.watch_stopped(kind);
}

/// The objects of kind `K` in the namespace of `other` whose workspace reference names it.
fn referencing<K, F>(
    reader: kube::runtime::reflector::Store<K>,
    workspace_ref: F,
) -> impl Fn(Workspace) -> Vec<ObjectRef<K>> + Send + Sync + 'static
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
    F: Fn(&K) -> &str + Send + Sync + 'static,
{
    move |workspace| {
        let namespace = workspace.namespace();
        let name = workspace.name_any();
        reader
            .state()
            .iter()
            .filter(|object| object.namespace() == namespace && workspace_ref(object) == name)
            .map(|object| ObjectRef::from_obj(&**object))
            .collect()
    }
}

/// Runs the three controllers until one of them stops.
async fn controllers(ctx: Arc<Context>, namespace: Option<String>) {
    let client = ctx.client.clone();
    let namespace = namespace.as_deref();
    let owned = watcher::Config::default().labels(&format!("{}={}", MANAGED_BY.0, MANAGED_BY.1));
    let all = watcher::Config::default();

    let workspaces = Controller::new(api::<Workspace>(&client, namespace), all.clone())
        .owns(api::<ConfigMap>(&client, namespace), owned.clone())
        .owns(api::<Secret>(&client, namespace), owned.clone())
        .run(
            instrumented(workspace::KIND, workspace::reconcile),
            error_policy(workspace::KIND),
            ctx.clone(),
        );

    let tokens = Controller::new(api::<ApiToken>(&client, namespace), all.clone());
    let reader = tokens.store();
    let tokens = tokens
        .owns(api::<Secret>(&client, namespace), owned.clone())
        .watches(
            api::<Workspace>(&client, namespace),
            all.clone(),
            referencing(reader, |token: &ApiToken| &token.spec.workspace_ref),
        )
        .run(
            instrumented(apitoken::KIND, apitoken::reconcile),
            error_policy(apitoken::KIND),
            ctx.clone(),
        );

    let endpoints = Controller::new(api::<WebhookEndpoint>(&client, namespace), all.clone());
    let reader = endpoints.store();
    let secret_reader = reader.clone();
    let endpoints = endpoints
        .watches(
            api::<Workspace>(&client, namespace),
            all.clone(),
            referencing(reader, |e: &WebhookEndpoint| &e.spec.workspace_ref),
        )
        // Both the operator's own Secrets and the ones a `secretRef` names: a user who
        // changes their secret gets it in the store without touching the resource.
        .watches(
            api::<Secret>(&client, namespace),
            all,
            move |secret: Secret| secrets_users(&secret_reader, &secret),
        )
        .run(
            instrumented(endpoint::KIND, endpoint::reconcile),
            error_policy(endpoint::KIND),
            ctx.clone(),
        );

    let metrics = ctx.metrics.clone();
    tokio::select! {
        () = track(workspace::KIND, metrics.clone(), workspaces) => {}
        () = track(apitoken::KIND, metrics.clone(), tokens) => {}
        () = track(endpoint::KIND, metrics, endpoints) => {}
    }
}

fn secrets_users(
    reader: &kube::runtime::reflector::Store<WebhookEndpoint>,
    secret: &Secret,
) -> Vec<ObjectRef<WebhookEndpoint>> {
    let namespace = secret.namespace();
    let name = secret.name_any();
    reader
        .state()
        .iter()
        .filter(|e| e.namespace() == namespace)
        .filter(|e| {
            e.spec.secret_ref.as_deref() == Some(name.as_str())
                || endpoint::secret_name(&e.name_any()) == name
        })
        .map(|e| ObjectRef::from_obj(&**e))
        .collect()
}
