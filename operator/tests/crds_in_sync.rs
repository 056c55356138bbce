//! The CRD YAML under `crds/` is what the Rust types generate, so that the schema a
//! cluster enforces is the one the operator reads.

use std::path::Path;

use socialscalr_operator::resources::crd_files;

#[test]
fn the_crd_files_match_the_resource_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds");
    let mut stale = Vec::new();
    for (file, generated) in crd_files() {
        let path = dir.join(file);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != generated {
            stale.push(file);
        }
    }
    assert!(
        stale.is_empty(),
        "crds/{stale:?} differ from the resource types; regenerate them with \
         `cargo run -p socialscalr-operator -- crds --out crds`"
    );
}
