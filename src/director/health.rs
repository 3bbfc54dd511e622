//! The director's side of health checking: the desired checks handed to the scheduler, and
//! check events turned into real-server health, service quorum, VRRP tracking and alerts.

use tandem_checkers::{CheckEvent, EventKind, Health, Outcome, OwnerId};

use super::Director;

impl Director {
    /// Hands the scheduler the checks of the current configuration. Checks whose identity and
    /// parameters did not change keep running untouched (their state and timers survive a
    /// reload).
    pub(super) async fn sync_checks(&mut self) {
        let helo = self.router_id.clone();
        let desired: Vec<_> = self
            .services
            .services
            .iter()
            .flat_map(|s| s.reals.iter())
            .filter_map(|r| {
                r.check.as_ref().map(|c| {
                    (
                        OwnerId(r.owner.clone()),
                        crate::checks::check_config(c, r.address, r.port, &helo),
                    )
                })
            })
            .collect();
        match self.checks.sync(desired).await {
            Ok(report) => tracing::info!(
                event = "checks_sync",
                changed = report.changed.len(),
                removed = report.removed.len(),
                unchanged = report.unchanged,
                "health checks scheduled"
            ),
            Err(e) => tracing::error!(error = %e, "cannot schedule health checks"),
        }
    }

    /// Applies a check event; returns whether the desired dataplane state may have changed.
    pub(super) fn on_check_event(&mut self, event: CheckEvent) -> bool {
        let Some((service, ri)) = self.services.locate(&event.owner.0) else {
            return false; // a late event of a check removed by a reload
        };
        let service_name = service.config.name.value.clone();
        let Some(real) = service.reals.get_mut(ri) else {
            return false;
        };
        let latency = event.result.latency;
        let (last_result, reason) = match &event.result.outcome {
            Outcome::Up => ("up".to_string(), None),
            Outcome::Down(failure) => ("down".to_string(), Some(failure.to_string())),
            _ => ("unknown".to_string(), None),
        };
        let was_up = real.health.up;
        real.health.up = event.health == Health::Up;
        real.health.last_result = Some(last_result);
        real.health.reason = if real.health.up { None } else { reason.clone() };
        real.health.latency = Some(latency);
        if let EventKind::Weight(w) = event.kind {
            real.health.dynamic_weight = Some(w);
        } else if let Some(w) = event.result.weight {
            real.health.dynamic_weight = Some(w);
        }
        let real_label = event.target.to_string();
        if was_up != real.health.up {
            tracing::info!(
                event = "real_server",
                service = %service_name,
                real = %real_label,
                state = if real.health.up { "up" } else { "down" },
                reason = %reason.as_deref().unwrap_or(""),
                latency_ms = latency.as_secs_f64() * 1000.0,
                "real server {real_label} of {service_name} is {}",
                if real.health.up { "up" } else { "down" }
            );
        }
        if let Some(has_quorum) = service.update_quorum() {
            let up = service.up_count();
            let quorum = *service.config.quorum;
            let sorry = service
                .config
                .sorry_server
                .as_ref()
                .map(|s| s.value.to_string());
            if has_quorum {
                tracing::info!(event = "quorum", service = %service_name, has_quorum, up, quorum, "virtual server {service_name} regained quorum ({up}/{quorum} real servers up)");
            } else {
                tracing::warn!(event = "quorum", service = %service_name, has_quorum, up, quorum, sorry_server = %sorry.unwrap_or_default(), "virtual server {service_name} lost quorum ({up}/{quorum} real servers up)");
            }
            self.recompute_tracking();
        }
        true
    }
}
