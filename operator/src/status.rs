//! Conditions and status writes. A status is written only when it differs from the one
//! the object has, comparing conditions without their timestamps, so that the operator's
//! own writes never start another reconcile of an object that is already settled.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use crate::context::Context;
use crate::error::Result;

pub const READY: &str = "Ready";

/// The `Ready` condition as it should be now. Its transition time moves only when its
/// status changes, as the Kubernetes API conventions ask.
pub fn ready(
    previous: &[Condition],
    generation: Option<i64>,
    ready: bool,
    reason: &str,
    message: impl Into<String>,
) -> Vec<Condition> {
    let status = if ready { "True" } else { "False" };
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == READY && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| Time(k8s_openapi::jiff::Timestamp::now()));
    vec![Condition {
        type_: READY.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message: message.into(),
        observed_generation: generation,
        last_transition_time,
    }]
}

/// The status as JSON with every condition's `lastTransitionTime` removed.
fn without_times<S: Serialize>(status: &S) -> Value {
    let mut value = serde_json::to_value(status).unwrap_or(Value::Null);
    if let Some(conditions) = value.get_mut("conditions").and_then(Value::as_array_mut) {
        for condition in conditions {
            if let Some(fields) = condition.as_object_mut() {
                fields.remove("lastTransitionTime");
            }
        }
    }
    value
}

/// Whether two statuses say the same, whatever their conditions' timestamps.
pub fn same<S: Serialize>(a: &S, b: &S) -> bool {
    without_times(a) == without_times(b)
}

/// Writes `status` unless the object already has the same one; true when it wrote.
pub async fn write<K, S>(api: &Api<K>, object: &K, current: Option<&S>, status: &S) -> Result<bool>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    if current.is_some_and(|current| same(current, status)) {
        return Ok(false);
    }
    let patch = json!({"status": status});
    api.patch_status(
        &object.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(true)
}

/// A resource whose status reports `Ready` and `observedGeneration`.
pub trait Reported:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug
{
    type Status: Serialize + Clone + Default;
    const KIND: &'static str;

    fn status(&self) -> Option<&Self::Status>;
    fn conditions(status: &Self::Status) -> &[Condition];
    /// `status` with these conditions, observed at `generation`.
    fn reported(
        status: Self::Status,
        conditions: Vec<Condition>,
        generation: Option<i64>,
    ) -> Self::Status;
}

/// Reports `Ready=False` with a reason the user can act on, and an Event when that is
/// news: not an error, so no backoff storm, but tried again after `retry` and whenever
/// the resource changes.
pub async fn not_ready<K: Reported>(
    api: &Api<K>,
    object: &K,
    ctx: &Context,
    reason: &str,
    message: String,
    retry: std::time::Duration,
) -> Result<Action> {
    let current = object.status();
    let previous = current.map(K::conditions).unwrap_or_default();
    let generation = object.meta().generation;
    let conditions = ready(previous, generation, false, reason, message.clone());
    let new_status = K::reported(current.cloned().unwrap_or_default(), conditions, generation);
    if write(api, object, current, &new_status).await? {
        tracing::warn!(kind = K::KIND, reason, %message, "Resource not ready");
        ctx.event(&object.object_ref(&()), EventType::Warning, reason, message)
            .await;
    }
    Ok(Action::requeue(retry))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::WorkspaceStatus;

    fn at(seconds: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(seconds).unwrap())
    }

    #[test]
    fn statuses_that_differ_only_in_condition_times_are_the_same() {
        let mut a = WorkspaceStatus {
            workspace_id: Some("ws_1".into()),
            conditions: ready(&[], Some(1), true, "Reconciled", "ok"),
            ..WorkspaceStatus::default()
        };
        let mut b = a.clone();
        a.conditions[0].last_transition_time = at(1);
        b.conditions[0].last_transition_time = at(2);
        assert!(same(&a, &b));
        b.conditions[0].reason = "Other".into();
        assert!(!same(&a, &b));
    }

    #[test]
    fn the_transition_time_moves_only_with_the_status() {
        let mut first = ready(&[], Some(1), false, "WorkspaceNotFound", "x");
        first[0].last_transition_time = at(10);
        let still = ready(&first, Some(2), false, "WorkspaceNotFound", "y");
        assert_eq!(still[0].last_transition_time, at(10));
        let flipped = ready(&first, Some(2), true, "Reconciled", "ok");
        assert_ne!(flipped[0].last_transition_time, at(10));
    }
}
