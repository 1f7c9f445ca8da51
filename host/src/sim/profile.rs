//! Cluster profiles: the differences between simulated clusters besides their
//! seeded workloads, namely the Kubernetes version they report and whether they
//! define the Widget custom resource.
//!
//! `sim-1` to `sim-3` report v1.32.4. From `sim-4` on, clusters cycle through six
//! profiles with minor versions 1.30 to 1.33, all inside the range of kubectl
//! versions bundled on these machines (1.27 to 1.33), so that one fleet exercises
//! several kubectl releases.

/// A Kubernetes release as `/version` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KubeVersion {
    /// Minor version, such as 32.
    pub(crate) minor: u32,
    /// Patch version, such as 4.
    pub(crate) patch: u32,
}

impl KubeVersion {
    /// Returns the `gitVersion` text, such as `v1.32.4`.
    pub(crate) fn git_version(self) -> String {
        format!("v1.{}.{}", self.minor, self.patch)
    }
}

/// The seeded layout, version and custom resources of one cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Profile {
    /// Reported Kubernetes version.
    pub(crate) version: KubeVersion,
    /// Index into the seed variants (A, B, C, D) whose objects the cluster gets.
    pub(crate) variant: usize,
    /// Whether the cluster defines `widgets.example.com` and stores some widgets.
    pub(crate) widgets: bool,
}

const fn profile(minor: u32, patch: u32, variant: usize, widgets: bool) -> Profile {
    Profile {
        version: KubeVersion { minor, patch },
        variant,
        widgets,
    }
}

/// Profiles of `sim-1` to `sim-3`: variants A, B and C at v1.32.4.
const FIRST: [Profile; 3] = [
    profile(32, 4, 0, true),
    profile(32, 4, 1, false),
    profile(32, 4, 2, true),
];

/// Profiles that `sim-4` and later clusters cycle through. Variant 3 (D) has no
/// workloads at all.
const LATER: [Profile; 6] = [
    profile(31, 6, 0, true),
    profile(30, 10, 1, false),
    profile(33, 1, 3, true),
    profile(31, 6, 2, false),
    profile(30, 10, 0, true),
    profile(32, 4, 3, false),
];

/// Returns the profile of the cluster with 1-based `cluster_index`.
pub(crate) fn of(cluster_index: usize) -> Profile {
    let index = cluster_index.max(1);
    match FIRST.get(index - 1) {
        Some(profile) => *profile,
        None => LATER[(index - 1 - FIRST.len()) % LATER.len()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_clusters_keep_one_version() {
        for index in 1..=3 {
            assert_eq!(of(index).version.git_version(), "v1.32.4");
        }
        assert_eq!(of(4).version.git_version(), "v1.31.6");
        assert_eq!(of(5).version.git_version(), "v1.30.10");
        assert_eq!(of(10), of(4));
    }
}
