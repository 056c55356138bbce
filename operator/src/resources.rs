//! The custom resources of group `socialscalr.com`, version `v1alpha1`, as Rust types. The
//! CRD YAML under `crds/` is generated from them (`socialscalr-operator crds`), so the
//! schema the API server enforces at `kubectl apply` time is the one written here.

// Printer columns repeat `type_ = "string"`, which this lint takes for a copy-paste slip.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, CustomResourceExt, KubeSchema};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use socialscalr_core::event::EventType;
use socialscalr_core::model::EndpointFormat;
use socialscalr_core::plan::Plan;

pub const GROUP: &str = "socialscalr.com";
pub const VERSION: &str = "v1alpha1";

/// A tenant: its plan, seats, members and limit overrides.
#[derive(CustomResource, KubeSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[kube(
    group = "socialscalr.com",
    version = "v1alpha1",
    kind = "Workspace",
    namespaced,
    status = "WorkspaceStatus",
    shortname = "ssws",
    category = "socialscalr",
    doc = "A socialscalr workspace: one tenant with its plan, seats, members and limits",
    printcolumn(name = "Plan", type_ = "string", json_path = ".spec.plan"),
    printcolumn(name = "Seats", type_ = "integer", json_path = ".spec.seats"),
    printcolumn(name = "Suspended", type_ = "boolean", json_path = ".spec.suspended"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(name = "ID", type_ = "string", json_path = ".status.workspaceId"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new("!has(self.seats) || self.plan == 'agency'")
    .message("seats are only for the agency plan")
    .field_path(".seats"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkspaceSpec {
    /// The name people see; the workspace's API name is the resource's name.
    #[schemars(length(min = 1, max = 200))]
    pub display_name: String,
    #[schemars(schema_with = "plan_schema")]
    pub plan: Plan,
    /// Per-seat tokens an agency workspace may hold at once (10 when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub seats: Option<u32>,
    /// The people with access to the workspace's app; one entry per email.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["email"]))]
    pub members: Vec<MemberSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitOverrides>,
    /// A suspended workspace keeps its data; its tokens stop working until it is lifted.
    #[serde(default)]
    pub suspended: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemberSpec {
    #[schemars(email, length(max = 254))]
    pub email: String,
    /// owner, admin or member (member when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<MemberRole>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MemberRole {
    Owner,
    Admin,
    Member,
}

/// Limits that replace the plan's for one workspace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000000))]
    pub requests_per_minute: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000000))]
    pub webhook_events_per_minute: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceStatus {
    /// The workspace's id in the store (`ws_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_limits: Option<EffectiveLimits>,
    /// The Secret holding the admin override token of an agency workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_token_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// The limits in force: the overrides where given, else the plan's. Absent means the
/// plan has no REST API (or no webhook events) at all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EffectiveLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_events_per_minute: Option<u32>,
}

/// An API token of a workspace, kept in a Secret named `<name>-api-token`.
#[derive(CustomResource, KubeSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[kube(
    group = "socialscalr.com",
    version = "v1alpha1",
    kind = "ApiToken",
    namespaced,
    status = "ApiTokenStatus",
    shortname = "sstok",
    category = "socialscalr",
    doc = "An API token of a socialscalr workspace, kept in a Secret",
    printcolumn(name = "Workspace", type_ = "string", json_path = ".spec.workspaceRef"),
    printcolumn(name = "Seat", type_ = "string", json_path = ".spec.seat"),
    printcolumn(name = "Prefix", type_ = "string", json_path = ".status.prefix"),
    printcolumn(name = "Secret", type_ = "string", json_path = ".status.secretName"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(name = "Expires", type_ = "date", json_path = ".spec.expiresAt"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new(
    "self.workspaceRef == oldSelf.workspaceRef && has(self.seat) == has(oldSelf.seat) && \
     (!has(self.seat) || self.seat == oldSelf.seat) && \
     has(self.scopes) == has(oldSelf.scopes) && \
     (!has(self.scopes) || self.scopes == oldSelf.scopes) && \
     has(self.expiresAt) == has(oldSelf.expiresAt) && \
     (!has(self.expiresAt) || self.expiresAt == oldSelf.expiresAt)")
    .message("workspaceRef, seat, scopes and expiresAt are fixed once issued; \
              create a new ApiToken instead"))]
#[x_kube(validation = Rule::new("self.rotationGeneration >= oldSelf.rotationGeneration")
    .message("rotationGeneration only goes up")
    .field_path(".rotationGeneration"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiTokenSpec {
    /// The Workspace resource, in the same namespace, the token belongs to.
    #[schemars(length(min = 1, max = 63))]
    pub workspace_ref: String,
    /// The agency seat the token belongs to; counts against the workspace's seats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    pub seat: Option<String>,
    /// `admin`, or `<family>:read|write` for campaigns, leads, posts, webhooks, watchtower,
    /// audit. Every read and write scope when not given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20), inner(length(max = 32)))]
    #[x_kube(validation = Rule::new(
        "self.all(s, s.matches(\
         '^(admin|(campaigns|leads|posts|webhooks|watchtower|audit):(read|write))$'))")
        .message("scopes are admin or <family>:read|write"))]
    pub scopes: Vec<String>,
    /// RFC 3339 time after which the token stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub expires_at: Option<String>,
    /// Bumping it issues a new token; the old one keeps working for the grace period.
    #[serde(default)]
    #[schemars(range(min = 0, max = 1000000))]
    pub rotation_generation: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiTokenStatus {
    /// The token's id in the store (`tok_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// The public part of the token, as lists and logs show it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// The rotation generation the token in the Secret was issued for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_generation: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// A webhook endpoint of a workspace; its signing secret is kept in a Secret named
/// `<name>-webhook-secret`.
#[derive(CustomResource, KubeSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[kube(
    group = "socialscalr.com",
    version = "v1alpha1",
    kind = "WebhookEndpoint",
    namespaced,
    status = "WebhookEndpointStatus",
    shortname = "sshook",
    category = "socialscalr",
    doc = "A webhook endpoint of a socialscalr workspace",
    printcolumn(name = "Workspace", type_ = "string", json_path = ".spec.workspaceRef"),
    printcolumn(name = "URL", type_ = "string", json_path = ".spec.url"),
    printcolumn(name = "Disabled", type_ = "boolean", json_path = ".spec.disabled"),
    printcolumn(
        name = "Failures",
        type_ = "integer",
        json_path = ".status.health.consecutiveFailures"
    ),
    printcolumn(
        name = "Last Success",
        type_ = "date",
        json_path = ".status.health.lastSuccessAt"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new("self.workspaceRef == oldSelf.workspaceRef")
    .message("workspaceRef is fixed; create a new WebhookEndpoint instead")
    .field_path(".workspaceRef"))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookEndpointSpec {
    /// The Workspace resource, in the same namespace, the endpoint belongs to.
    #[schemars(length(min = 1, max = 63))]
    pub workspace_ref: String,
    /// Where deliveries go: https, or http to a loopback address for local tests.
    #[schemars(url, length(max = 2048))]
    #[x_kube(validation = Rule::new(
        "self.startsWith('https://') || \
         self.matches('^http://(127\\\\.0\\\\.0\\\\.1|localhost|\\\\[::1\\\\])(:[0-9]+)?(/.*)?$')")
        .message("must be an https URL (plain http only to a loopback address, for tests)"))]
    pub url: String,
    /// The event types the endpoint receives.
    #[schemars(schema_with = "events_schema")]
    pub events: Vec<EventType>,
    /// json (the signed envelope), slack or discord; detected from the URL when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "format_schema")]
    pub format: Option<EndpointFormat>,
    #[serde(default)]
    pub disabled: bool,
    /// A Secret in the same namespace holding a signing secret of your own under the key
    /// `secret`; one is generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub secret_ref: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpointStatus {
    /// The endpoint's id in the store (`ep_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<DeliveryHealth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// How deliveries to the endpoint have gone lately, from its delivery log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryHealth {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<String>,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// Why the endpoint is disabled, such as `gone` after a 410.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
}

fn string_enum(values: Vec<&'static str>) -> Schema {
    json_schema!({"type": "string", "enum": values})
}

fn plan_schema(_: &mut SchemaGenerator) -> Schema {
    string_enum(Plan::ALL.iter().map(|plan| plan.as_str()).collect())
}

fn format_schema(_: &mut SchemaGenerator) -> Schema {
    string_enum(EndpointFormat::ALL.iter().map(|f| f.as_str()).collect())
}

fn events_schema(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = EventType::ALL.iter().map(|event| event.as_str()).collect();
    json_schema!({
        "type": "array",
        "minItems": 1,
        "maxItems": names.len(),
        "x-kubernetes-list-type": "set",
        "items": {"type": "string", "enum": names},
    })
}

/// The CRDs of every resource, as the YAML files under `crds/` hold them.
pub fn crd_files() -> Vec<(&'static str, String)> {
    let render = |crd: CustomResourceDefinition| {
        let mut yaml = String::from("# Generated by `socialscalr-operator crds`; do not edit.\n");
        yaml.push_str(&serde_saphyr::to_string(&crd).expect("CRDs serialize"));
        yaml
    };
    vec![
        ("workspaces.yaml", render(Workspace::crd())),
        ("apitokens.yaml", render(ApiToken::crd())),
        ("webhookendpoints.yaml", render(WebhookEndpoint::crd())),
    ]
}

/// The three resources report their readiness the same way.
macro_rules! reported {
    ($($kind:ident => $status:ident),+ $(,)?) => {$(
        impl crate::status::Reported for $kind {
            type Status = $status;
            const KIND: &'static str = stringify!($kind);

            fn status(&self) -> Option<&$status> {
                self.status.as_ref()
            }

            fn conditions(status: &$status) -> &[Condition] {
                &status.conditions
            }

            fn reported(
                status: $status,
                conditions: Vec<Condition>,
                observed_generation: Option<i64>,
            ) -> $status {
                $status {
                    conditions,
                    observed_generation,
                    ..status
                }
            }
        }
    )+};
}

reported!(
    Workspace => WorkspaceStatus,
    ApiToken => ApiTokenStatus,
    WebhookEndpoint => WebhookEndpointStatus,
);
