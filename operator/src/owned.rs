//! Secrets and ConfigMaps the operator creates for a resource: owned by it, so that
//! Kubernetes collects them with it, and labelled as the operator's.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, PostParams};
use kube::{Resource, ResourceExt};

use crate::error::{Error, Result};

pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "socialscalr-operator");
pub const FINALIZER: &str = "socialscalr.com/cleanup";

pub fn owner_reference<K: Resource<DynamicType = ()>>(owner: &K) -> Result<OwnerReference> {
    owner
        .controller_owner_ref(&())
        .ok_or(Error::MissingMetadata("uid"))
}

pub fn namespace<K: Resource>(object: &K) -> Result<String> {
    object
        .namespace()
        .ok_or(Error::MissingMetadata("namespace"))
}

pub fn uid<K: Resource>(object: &K) -> Result<String> {
    object.uid().ok_or(Error::MissingMetadata("uid"))
}

/// Metadata of an object owned by `owner`.
pub fn owned_meta(
    name: &str,
    namespace: &str,
    owner: OwnerReference,
    annotations: BTreeMap<String, String>,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        owner_references: Some(vec![owner]),
        labels: Some(BTreeMap::from([(
            MANAGED_BY.0.to_owned(),
            MANAGED_BY.1.to_owned(),
        )])),
        annotations: (!annotations.is_empty()).then_some(annotations),
        ..ObjectMeta::default()
    }
}

pub fn secret_value(secret: &Secret, key: &str) -> Option<String> {
    let bytes = secret.data.as_ref()?.get(key)?;
    String::from_utf8(bytes.0.clone()).ok()
}

pub fn secret_data(entries: &[(&str, &str)]) -> BTreeMap<String, ByteString> {
    entries
        .iter()
        .map(|(key, value)| ((*key).to_owned(), ByteString(value.as_bytes().to_vec())))
        .collect()
}

pub fn annotation(secret: &Secret, key: &str) -> Option<String> {
    secret.annotations().get(key).cloned()
}

/// Creates the Secret unless one of that name exists; `None` when it did, so that two
/// reconciles racing to generate a value keep only the first one.
pub async fn create_secret(api: &Api<Secret>, secret: &Secret) -> Result<Option<Secret>> {
    match api.create(&PostParams::default(), secret).await {
        Ok(created) => Ok(Some(created)),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Whether the object is owned by `owner` as its controller.
pub fn is_owned_by(meta: &ObjectMeta, owner: &OwnerReference) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|reference| reference.uid == owner.uid && reference.controller == Some(true))
}
