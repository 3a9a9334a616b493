//! Cgroups isobench puts an engine or VMM process in purely to measure it: its kernel memory
//! (KVM's structures, the namespaces an engine creates, page tables) is charged there, where
//! the memory sample can read it. They set no limits.
use std::sync::Arc;

use super::spawn::Home;
use super::{CgroupLayout, CgroupPlan, InstanceCgroup};
use crate::Error;

/// One launcher's plan for measuring cgroups; removes the (empty) parents when dropped.
#[derive(Debug)]
pub struct MeasuringCgroups {
    plan: CgroupPlan,
    home: Option<Arc<Home>>,
}

impl MeasuringCgroups {
    /// Detects the layout and makes the parents ready (call from `prepare`, untimed). Never
    /// fails: without cgroups the instances run unmeasured, and each memory sample's
    /// `kernel_not_measured` says why.
    pub fn prepare() -> MeasuringCgroups {
        let mut plan = CgroupPlan::detect(&CgroupLayout::detect());
        if plan.memory_parent().is_none() && !matches!(plan, CgroupPlan::Unavailable { .. }) {
            plan = CgroupPlan::Unavailable {
                reason: "the cgroup hierarchy offers no memory controller".into(),
            };
        }
        if let Err(error) = plan.ensure_parents() {
            plan = CgroupPlan::Unavailable {
                reason: error.to_string(),
            };
        }
        // Without a way home (our own cgroup not writable to us) children join by themselves.
        let home = plan.home().ok().flatten();
        MeasuringCgroups { plan, home }
    }

    /// A new cgroup for one instance, ready for [`InstanceCgroup::spawn_inside`], or None when
    /// this host gives us none.
    pub fn create(&self) -> Result<Option<InstanceCgroup>, Error> {
        if let CgroupPlan::Unavailable { .. } = self.plan {
            return Ok(None);
        }
        let mut cgroup = self.plan.create_instance()?;
        cgroup.prepare_spawn(self.home.clone())?;
        Ok(Some(cgroup))
    }
}

impl Drop for MeasuringCgroups {
    fn drop(&mut self) {
        self.plan.remove_parents();
    }
}
