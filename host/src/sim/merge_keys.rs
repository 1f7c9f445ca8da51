//! The merge rules of lists in the built-in kinds the simulator serves, as the
//! `patchStrategy` and `patchMergeKey` tags of the Kubernetes API types define it.
//!
//! Strategic merge patch and server-side apply both read this table. A list is
//! found by the field names on the way to it, without list positions, such as
//! `spec.template.spec.containers.ports`.
//! NOTE: server-side apply in kube-apiserver keys container ports by
//! `containerPort` and `protocol`, and service ports by `port` and `protocol`. The
//! simulator keys them by the port alone.

/// Merge strategy of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ListStrategy {
    /// The patch list replaces the whole list (`atomic`).
    Replace,
    /// Elements are objects matched by the value of one field.
    MergeByKey(&'static str),
    /// Elements are scalars and the result is the union of both lists.
    MergeSet,
}

/// Returns the strategy of the list at `path`, a list of field names from the root.
pub(crate) fn list_strategy(path: &[&str]) -> ListStrategy {
    let Some((field, parents)) = path.split_last() else {
        return ListStrategy::Replace;
    };
    let parent = parents.last().copied().unwrap_or_default();
    let key = match (*field, parent) {
        ("containers" | "initContainers" | "ephemeralContainers", _) => "name",
        ("env" | "volumes" | "imagePullSecrets" | "resourceClaims" | "schedulingGates", _) => {
            "name"
        }
        ("ports", "containers" | "initContainers" | "ephemeralContainers") => "containerPort",
        ("ports", "spec") if parents.len() == 1 => "port",
        ("volumeMounts", _) => "mountPath",
        ("volumeDevices", _) => "devicePath",
        ("hostAliases", _) => "ip",
        ("topologySpreadConstraints", _) => "topologyKey",
        ("conditions", _) => "type",
        ("ownerReferences", "metadata") => "uid",
        ("finalizers", "metadata") => return ListStrategy::MergeSet,
        _ => return ListStrategy::Replace,
    };
    ListStrategy::MergeByKey(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_and_service_ports() {
        let containers = ["spec", "template", "spec", "containers"];
        assert_eq!(list_strategy(&containers), ListStrategy::MergeByKey("name"));
        let ports = ["spec", "template", "spec", "containers", "ports"];
        assert_eq!(
            list_strategy(&ports),
            ListStrategy::MergeByKey("containerPort")
        );
        assert_eq!(
            list_strategy(&["spec", "ports"]),
            ListStrategy::MergeByKey("port")
        );
        assert_eq!(
            list_strategy(&["spec", "containers", "args"]),
            ListStrategy::Replace
        );
        assert_eq!(
            list_strategy(&["metadata", "finalizers"]),
            ListStrategy::MergeSet
        );
    }
}
