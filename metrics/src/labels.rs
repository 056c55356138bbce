//! Workspace label values, bounded: a platform with thousands of workspaces must not give
//! Prometheus thousands of series per metric. The first workspaces a process sees keep
//! their own label, up to the cap; later ones share `other`. Series are never dropped
//! once created, so no counter of a labelled workspace ever restarts from zero.

use std::collections::HashSet;
use std::sync::Mutex;

use prometheus::IntGauge;

/// The label value shared by workspaces past the cap.
pub const OTHER_WORKSPACE: &str = "other";

pub struct WorkspaceLabels {
    max: usize,
    seen: Mutex<HashSet<String>>,
    in_use: IntGauge,
}

impl WorkspaceLabels {
    pub(crate) fn new(max: u32, in_use: IntGauge) -> WorkspaceLabels {
        WorkspaceLabels {
            max: usize::try_from(max).unwrap_or(usize::MAX),
            seen: Mutex::new(HashSet::new()),
            in_use,
        }
    }

    /// The label value for `workspace_id`: the id itself while there is room, else `other`.
    pub fn label(&self, workspace_id: &str) -> String {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.contains(workspace_id) {
            return workspace_id.to_owned();
        }
        if seen.len() >= self.max {
            return OTHER_WORKSPACE.to_owned();
        }
        seen.insert(workspace_id.to_owned());
        self.in_use
            .set(i64::try_from(seen.len()).unwrap_or(i64::MAX));
        workspace_id.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspaces_past_the_cap_share_the_other_label() {
        let gauge = IntGauge::new("labels", "test").unwrap();
        let labels = WorkspaceLabels::new(2, gauge.clone());
        assert_eq!(labels.label("ws_a"), "ws_a");
        assert_eq!(labels.label("ws_b"), "ws_b");
        assert_eq!(labels.label("ws_c"), OTHER_WORKSPACE);
        assert_eq!(
            labels.label("ws_a"),
            "ws_a",
            "a labelled workspace keeps its label"
        );
        assert_eq!(gauge.get(), 2);
    }

    #[test]
    fn a_cap_of_zero_folds_every_workspace() {
        let labels = WorkspaceLabels::new(0, IntGauge::new("labels", "test").unwrap());
        assert_eq!(labels.label("ws_a"), OTHER_WORKSPACE);
    }
}
