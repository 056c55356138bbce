//! Pacing messages to chat webhooks at the rate their services accept: a turn per
//! endpoint at least a fixed spacing after the one before, and a pause after a 429. An
//! endpoint waiting for its turn is left out of claims, so its backlog stays in the store
//! instead of holding delivery slots, and other endpoints are never held up.
//!
//! NB: turns are kept per dispatcher process; replicas each pace on their own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use socialscalr_core::model::EndpointFormat;
use tokio::time::Instant;

/// The least time between two messages to one webhook of each chat service. The
/// deliveries of one claim wait for their turns while holding it, so a spacing times the
/// per-endpoint slots stays well under the claim's lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatPacing {
    /// Slack accepts about one message a second per incoming webhook.
    pub slack: Duration,
    /// Discord accepts five requests per two seconds per webhook.
    pub discord: Duration,
}

impl ChatPacing {
    pub fn standard() -> Self {
        Self {
            slack: Duration::from_secs(1),
            discord: Duration::from_millis(400),
        }
    }

    /// The spacing for an endpoint of `format`, if it is paced at all.
    pub fn spacing(&self, format: EndpointFormat) -> Option<Duration> {
        match format {
            EndpointFormat::Json => None,
            EndpointFormat::Slack => Some(self.slack),
            EndpointFormat::Discord => Some(self.discord),
        }
    }
}

/// The next free turn of each paced endpoint that sent recently, and the earliest its
/// next message may actually start.
#[derive(Debug, Default)]
pub struct Pacer {
    turns: Mutex<HashMap<String, Instant>>,
    not_before: Mutex<HashMap<String, Instant>>,
}

impl Pacer {
    /// Takes the endpoint's next turn, no sooner than `now`, and returns when it is.
    pub fn reserve(&self, endpoint: &str, spacing: Duration, now: Instant) -> Instant {
        let mut turns = self.lock();
        let next = turns.entry(endpoint.to_owned()).or_insert(now);
        let turn = (*next).max(now);
        *next = turn + spacing;
        turn
    }

    /// Gives the endpoint no turn before `until`.
    pub fn hold_off(&self, endpoint: &str, until: Instant) {
        let mut turns = self.lock();
        let next = turns.entry(endpoint.to_owned()).or_insert(until);
        *next = (*next).max(until);
    }

    /// Waits for `turn`, and then until `spacing` has passed since the endpoint's last
    /// message started: a message started late on its turn does not shorten the gap to
    /// the next.
    pub async fn wait_for(&self, endpoint: &str, turn: Instant, spacing: Duration) {
        tokio::time::sleep_until(turn).await;
        loop {
            let now = Instant::now();
            let ready = {
                let mut not_before = lock(&self.not_before);
                match not_before.get(endpoint) {
                    Some(ready) if *ready > now => *ready,
                    _ => {
                        not_before.insert(endpoint.to_owned(), now + spacing);
                        return;
                    }
                }
            };
            tokio::time::sleep_until(ready).await;
        }
    }

    /// The endpoints whose next turn is after `now`; the others are forgotten.
    pub fn resting(&self, now: Instant) -> Vec<String> {
        lock(&self.not_before).retain(|_, ready| *ready > now);
        let mut turns = self.lock();
        turns.retain(|_, next| *next > now);
        turns.keys().cloned().collect()
    }

    /// The earliest turn after `now`, when a resting endpoint may be claimed again.
    pub fn next_turn(&self, now: Instant) -> Option<Instant> {
        self.lock().values().copied().filter(|at| *at > now).min()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        lock(&self.turns)
    }
}

fn lock(
    map: &Mutex<HashMap<String, Instant>>,
) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
    map.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn turns_of_one_endpoint_are_spaced_and_others_are_independent() {
        let pacer = Pacer::default();
        let now = Instant::now();
        assert_eq!(pacer.reserve("ep_a", SECOND, now), now);
        assert_eq!(pacer.reserve("ep_a", SECOND, now), now + SECOND);
        assert_eq!(pacer.reserve("ep_a", SECOND, now), now + 2 * SECOND);
        assert_eq!(
            pacer.reserve("ep_b", SECOND, now),
            now,
            "another endpoint waits not"
        );
        // Long after the last turn, the next one is at once.
        let later = now + 10 * SECOND;
        assert_eq!(pacer.reserve("ep_a", SECOND, later), later);
    }

    #[test]
    fn resting_endpoints_are_skipped_until_their_turn() {
        let pacer = Pacer::default();
        let now = Instant::now();
        pacer.reserve("ep_a", SECOND, now);
        pacer.hold_off("ep_b", now + 30 * SECOND);
        let mut resting = pacer.resting(now);
        resting.sort();
        assert_eq!(resting, vec!["ep_a", "ep_b"]);
        assert_eq!(pacer.next_turn(now), Some(now + SECOND));
        assert_eq!(pacer.resting(now + 2 * SECOND), vec!["ep_b"]);
        assert_eq!(pacer.next_turn(now + 2 * SECOND), Some(now + 30 * SECOND));
        assert!(pacer.resting(now + 31 * SECOND).is_empty());
        assert_eq!(pacer.next_turn(now + 31 * SECOND), None);
    }

    #[test]
    fn a_pause_after_a_429_delays_the_next_turn_but_never_advances_it() {
        let pacer = Pacer::default();
        let now = Instant::now();
        pacer.reserve("ep_a", SECOND, now);
        pacer.hold_off("ep_a", now + 5 * SECOND);
        assert_eq!(pacer.reserve("ep_a", SECOND, now), now + 5 * SECOND);
        pacer.hold_off("ep_a", now + 2 * SECOND);
        assert_eq!(pacer.reserve("ep_a", SECOND, now), now + 6 * SECOND);
    }

    #[tokio::test]
    async fn a_message_started_late_on_its_turn_still_gets_its_gap() {
        let spacing = Duration::from_millis(200);
        let pacer = Pacer::default();
        let start = Instant::now();
        let first = pacer.reserve("ep_a", spacing, start);
        let second = pacer.reserve("ep_a", spacing, start);
        assert_eq!(second - first, spacing);
        // The first message starts late, after its turn: the second waits the whole gap
        // from that start, not merely until its own turn.
        tokio::time::sleep(spacing / 2).await;
        pacer.wait_for("ep_a", first, spacing).await;
        let first_started = Instant::now();
        pacer.wait_for("ep_a", second, spacing).await;
        assert!(Instant::now() - first_started >= spacing);
        assert!(Instant::now() - start >= spacing + spacing / 2);
    }

    #[test]
    fn only_chat_formats_are_paced() {
        let pacing = ChatPacing::standard();
        assert_eq!(pacing.spacing(EndpointFormat::Json), None);
        assert_eq!(pacing.spacing(EndpointFormat::Slack), Some(SECOND));
        assert_eq!(
            pacing.spacing(EndpointFormat::Discord),
            Some(Duration::from_millis(400))
        );
    }
}
