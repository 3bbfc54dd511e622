//! The director's side of health checking: the desired checks handed to the scheduler, and
//! check events turned into real-server health, service quorum, VRRP tracking and alerts.

use tandem_checkers::{CheckEvent, EventKind, Health, Outcome, OwnerId};

use super::Director;

/// Short failure reason for the `reason` label of check metrics (bounded cardinality).
fn failure_reason(event: &CheckEvent) -> &'static str {
    match &event.result.outcome {
        Outcome::Down(f) => match f.reason {
            tandem_checkers::DownReason::Refused => "refused",
            tandem_checkers::DownReason::Timeout => "timeout",
            tandem_checkers::DownReason::Unreachable => "unreachable",
            tandem_checkers::DownReason::BadStatus(_) => "bad_status",
            tandem_checkers::DownReason::BodyMismatch => "body_mismatch",
            tandem_checkers::DownReason::DigestMismatch => "digest_mismatch",
            tandem_checkers::DownReason::Tls => "tls",
            tandem_checkers::DownReason::Rcode(_) => "rcode",
            tandem_checkers::DownReason::ExitCode(_) => "exit_code",
            _ => "other",
        },
        _ => "none",
    }
}

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

    /// Applies a check event (one per probe: the scheduler reports every result so the latency
    /// histogram and `last_result` are complete); returns whether the desired dataplane state
    /// changed.
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
        let previous_weight = real.health.dynamic_weight;
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
        let kind = real.check.as_ref().map_or("none", |c| c.kind.as_str());
        self.metrics.check_result(
            kind,
            &service_name,
            &real_label,
            latency.as_secs_f64(),
            reason.as_deref().map(|_| failure_reason(&event)),
        );
        if was_up != real.health.up {
            let up = real.health.up;
            self.metrics
                .set_real_server_up(&service_name, &real_label, up);
            self.alerts.emit(crate::alerts::AlertEvent::RealServer {
                service: service_name.clone(),
                real: real_label.clone(),
                up,
                reason: reason.clone().unwrap_or_default(),
            });
        }
        let changed = was_up != real.health.up || previous_weight != real.health.dynamic_weight;
        if let Some(has_quorum) = service.update_quorum() {
            let up = service.up_count();
            let quorum = *service.config.quorum;
            self.alerts.emit(crate::alerts::AlertEvent::Quorum {
                service: service_name.clone(),
                has_quorum,
                up,
                quorum,
            });
            self.recompute_tracking();
        }
        changed
    }
}
