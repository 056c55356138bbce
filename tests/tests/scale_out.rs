//! The scaled-out deployment end to end: two api-servers and three dispatchers on one
//! PostgreSQL database and Redis, a receiver on 127.0.0.1 and thousands of events across
//! several workspaces and endpoints. Mid-run one dispatcher is killed with SIGKILL,
//! another stopped with SIGTERM, Redis is restarted and PostgreSQL is restarted. Every
//! accepted event must arrive at every endpoint subscribed to it, correctly signed, and
//! an event may arrive twice only if its attempt was in flight when a dispatcher died.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use socialscalr_tests::cluster::{
    Client, Cluster, Receipt, Services, Sink, Tenant, create_tenant_workspace,
};

const WORKSPACES: usize = 4;
const ENDPOINTS_PER_WORKSPACE: usize = 2;
const EVENTS: usize = 1_600;
const CLIENTS: usize = 8;
/// How long the killed dispatcher's claims hold before the others take them over.
const LEASE: &str = "10s";
/// The most attempts one dispatcher has in flight.
const CONCURRENCY: usize = 32;

fn signature_of(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key size");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Waits until `accepted` events were accepted, failing the test after a minute.
async fn until_accepted(accepted: &AtomicUsize, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while accepted.load(Ordering::SeqCst) < count {
        assert!(Instant::now() < deadline, "the load stalled before {count}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_accepted_event_arrives_signed_through_kills_and_restarts() {
    let Some(services) = Services::from_env() else {
        return;
    };
    let concurrency = CONCURRENCY.to_string();
    let env = [
        ("SOCIALSCALR_DISPATCH_LEASE", LEASE),
        ("SOCIALSCALR_DISPATCH_CONCURRENCY", concurrency.as_str()),
    ];
    let mut cluster = Cluster::new(&services, &env).await;
    let servers = [
        cluster.start_api_server().await,
        cluster.start_api_server().await,
    ];
    for _ in 0..3 {
        cluster.start_dispatcher(&[]);
    }
    // A short pause per request keeps attempts in flight when a dispatcher is killed.
    let sink = Sink::start(Duration::from_millis(15)).await;
    let client = Client::new();

    let mut tenants = Vec::new();
    for n in 0..WORKSPACES {
        let name = format!("tenant-{n}");
        let limits = Some((1_000_000, 1_000_000));
        let (id, token) = create_tenant_workspace(&cluster, &name, "pro", limits);
        let mut secrets = HashMap::new();
        for e in 0..ENDPOINTS_PER_WORKSPACE {
            let path = format!("/{name}/{e}");
            let url = sink.url(&path);
            let secret = client
                .register_endpoint(&servers[e % 2], &token, &url, &["lead.replied"])
                .await;
            secrets.insert(path, secret);
        }
        let lead_id = client.create_lead(&servers[0], &token, "Ada").await;
        tenants.push(Tenant {
            id,
            token,
            secrets,
            lead_id,
        });
    }
    let tenants = Arc::new(tenants);

    // Eight clients report inbound messages, each one event, alternating api-servers.
    let next = Arc::new(AtomicUsize::new(0));
    let accepted_count = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(Mutex::new(Vec::<(usize, String)>::new()));
    let mut load = Vec::new();
    for _ in 0..CLIENTS {
        let (next, accepted_count, accepted) = (
            Arc::clone(&next),
            Arc::clone(&accepted_count),
            Arc::clone(&accepted),
        );
        let (tenants, client, servers) = (Arc::clone(&tenants), client.clone(), servers.clone());
        load.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= EVENTS {
                    return;
                }
                let tenant = &tenants[n % WORKSPACES];
                let url = format!(
                    "{}/api/v1/leads/{}/messages",
                    servers[n % 2],
                    tenant.lead_id
                );
                let body = json!({"direction": "inbound", "text": format!("message {n}")});
                let (status, answer) = client
                    .post_until_answered(&url, &tenant.token, &body, &format!("message-{n}"))
                    .await;
                assert_eq!(status, 201, "message {n}: {answer}");
                let event_id = answer["event_id"]
                    .as_str()
                    .expect("an inbound message emits");
                accepted
                    .lock()
                    .unwrap()
                    .push((n % WORKSPACES, event_id.to_owned()));
                accepted_count.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }

    until_accepted(&accepted_count, EVENTS / 5).await;
    cluster.dispatchers[0].kill();
    let killed_at = Instant::now();
    until_accepted(&accepted_count, 2 * EVENTS / 5).await;
    services.control("restart", "redis");
    until_accepted(&accepted_count, 3 * EVENTS / 5).await;
    let stopped = cluster.dispatchers[1].terminate(Duration::from_secs(30));
    assert!(
        stopped.is_some_and(|status| status.success()),
        "SIGTERM: the dispatcher exits cleanly within its grace period ({stopped:?})\n{}",
        cluster.dispatchers[1].log_tail()
    );
    until_accepted(&accepted_count, 4 * EVENTS / 5).await;
    services.control("restart", "postgres");
    for task in load {
        task.await.expect("a load client panicked");
    }

    let accepted = accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), EVENTS);
    let mut expected: HashSet<(String, String)> = HashSet::new();
    for (tenant, event_id) in &accepted {
        for path in tenants[*tenant].secrets.keys() {
            expected.insert((event_id.clone(), path.clone()));
        }
    }
    assert_eq!(expected.len(), EVENTS * ENDPOINTS_PER_WORKSPACE);

    let deadline = Instant::now() + Duration::from_secs(120);
    let receipts: Vec<Receipt> = loop {
        let receipts = sink.receipts();
        let arrived: HashSet<(String, String)> = receipts
            .iter()
            .map(|r| (r.event_id.clone(), r.path.clone()))
            .collect();
        let missing = expected.difference(&arrived).count();
        if missing == 0 {
            break receipts;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {} deliveries never arrived\n{}",
            expected.len(),
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Anything still in flight lands before the last checks.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let receipts = if sink.count() > receipts.len() {
        sink.receipts()
    } else {
        receipts
    };

    let secrets: HashMap<&str, &str> = tenants
        .iter()
        .flat_map(|t| t.secrets.iter().map(|(p, s)| (p.as_str(), s.as_str())))
        .collect();
    let mut by_delivery: HashMap<(String, String), Vec<&Receipt>> = HashMap::new();
    for receipt in &receipts {
        let key = (receipt.event_id.clone(), receipt.path.clone());
        assert!(expected.contains(&key), "unexpected delivery {key:?}");
        let secret = secrets[receipt.path.as_str()];
        assert_eq!(
            receipt.signature,
            signature_of(secret, &receipt.body),
            "the signature of {} to {} verifies",
            receipt.event_id,
            receipt.path
        );
        let envelope: Value = serde_json::from_slice(&receipt.body).expect("a JSON body");
        assert_eq!(envelope["id"], receipt.event_id.as_str());
        assert_eq!(envelope["event"], "lead.replied");
        by_delivery.entry(key).or_default().push(receipt);
    }
    let attempt_ids: HashSet<&str> = receipts.iter().map(|r| r.delivery_id.as_str()).collect();
    assert_eq!(
        attempt_ids.len(),
        receipts.len(),
        "each attempt has its own id"
    );

    // A delivery arrives twice only when the SIGKILL cut its first attempt short: that
    // attempt reached the receiver before the kill took effect, and its result was never
    // recorded, so the lease ran out and another dispatcher sent it again.
    let duplicates: Vec<_> = by_delivery.values().filter(|r| r.len() > 1).collect();
    for receipts in &duplicates {
        let first = receipts.iter().map(|r| r.at).min().expect("not empty");
        assert!(
            first <= killed_at + Duration::from_millis(500),
            "{} reached {} twice, and its first attempt was not in flight at the kill",
            receipts[0].event_id,
            receipts[0].path
        );
        assert_eq!(receipts.len(), 2, "one retry after the kill, no more");
    }
    assert!(
        duplicates.len() <= CONCURRENCY,
        "{} duplicates, more than the killed dispatcher had in flight",
        duplicates.len()
    );

    let survivor = &mut cluster.dispatchers[2];
    assert!(survivor.is_running(), "{}", survivor.log_tail());
    for (server, _) in &mut cluster.api_servers {
        assert!(server.is_running(), "{}", server.log_tail());
    }
    eprintln!(
        "{} events, {} deliveries, {} duplicates after the SIGKILL, workspaces {:?}",
        EVENTS,
        receipts.len(),
        duplicates.len(),
        tenants.iter().map(|t| t.id.as_str()).collect::<Vec<_>>()
    );
}
