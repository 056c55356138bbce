//! The tenancy custom resources of group `socialscalr.com`, version `v1alpha1`: what an
//! agency declares with `kubectl` or Helm. The controllers that reconcile them into
//! Secrets, ConfigMaps and store rows build on these types.

pub mod spec;
