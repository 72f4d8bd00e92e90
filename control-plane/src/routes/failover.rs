//! The failover admin paths: 501 until the failover work (DESIGN.md section 7) lands. An
//! honest absence: nothing is stopped, promoted or started, and the answer says so.

use crate::error::ControlPlaneError;

/// What every failover path is missing.
pub const FAILOVER_MISSING: &str = "automatic and manual failover (DESIGN.md section 7: \
     stopping a node, promotion with the SEER eligibility gate, fencing, epochs, rejoin) has \
     not landed yet; no node was touched";

fn missing(path: &'static str) -> ControlPlaneError {
    ControlPlaneError::NotImplemented {
        path,
        missing: FAILOVER_MISSING,
    }
}

macro_rules! not_yet {
    ($name:ident, $path:tt) => {
        #[doc = concat!("`POST ", $path, "`: 501 until the failover work lands.")]
        #[utoipa::path(post, path = $path, tag = "failover",
                                    responses((status = 501, description = "not implemented yet")))]
        pub async fn $name() -> ControlPlaneError {
            missing($path)
        }
    };
}

not_yet!(stop_master, "/admin/stop-master");
not_yet!(stop_master_only, "/admin/stop-master-only");
not_yet!(promote_leader, "/admin/promote-leader");
not_yet!(start_instance, "/admin/start-instance");
not_yet!(restart_old_master, "/admin/restart-old-master");
not_yet!(switchover, "/admin/switchover");
