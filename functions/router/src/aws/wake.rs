//! Waking an Auto Scaling group that has scaled to zero: the router is the activator (as
//! Knative's and the KEDA HTTP add-on's are), at no idle cost.
//!
//! Auto Scaling has no conditional SetDesiredCapacity, so a wake reads the group first and sets
//! the wake size only when the desired capacity is 0. Many router environments waking at once all
//! set the same size, which is one wake, not several.
//!
//! The wake does not honour the group's cooldown: with `HonorCooldown`, SetDesiredCapacity fails
//! with ScalingActivityInProgress until the cooldown after the last activity ends (300 s by
//! default), and that activity is the scale-in to zero, so a request soon after it could never
//! wake the group. The price is a narrow race: a scaler that raises the group between the wake's
//! read and its set is lowered to the wake size until the scaler's next tick.

use super::{BoxFuture, CloudError};
use aws_sdk_autoscaling::error::ProvideErrorMetadata;

/// What a wake found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// The group was at 0: its desired capacity is now the wake size.
    Woke,
    /// The group was not at 0 (or a scaling activity is under way): nothing was changed.
    Awake { desired: u32 },
}

/// Raises a group from zero.
pub trait FleetWaker: Send + Sync + std::fmt::Debug {
    fn wake(&self, size: u32) -> BoxFuture<'_, Result<Woken, CloudError>>;
}

/// A group, woken through DescribeAutoScalingGroups and SetDesiredCapacity.
#[derive(Debug, Clone)]
pub struct GroupWaker {
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub group: String,
}

impl FleetWaker for GroupWaker {
    fn wake(&self, size: u32) -> BoxFuture<'_, Result<Woken, CloudError>> {
        Box::pin(async move {
            let group = super::discovery::describe_group(&self.autoscaling, &self.group).await?;
            let desired = u32::try_from(group.desired_capacity().unwrap_or_default()).unwrap_or(0);
            if desired > 0 {
                return Ok(Woken::Awake { desired });
            }
            let set = self
                .autoscaling
                .set_desired_capacity()
                .auto_scaling_group_name(&self.group)
                .desired_capacity(i32::try_from(size).unwrap_or(i32::MAX))
                .honor_cooldown(false)
                .send()
                .await;
            match set {
                Ok(_) => Ok(Woken::Woke),
                // Another wake, or the scaler, has just acted: that activity wins.
                Err(e) if e.as_service_error().and_then(|s| s.code()) == Some("ScalingActivityInProgress") => {
                    Ok(Woken::Awake { desired })
                }
                Err(e) => Err(CloudError::from_sdk("SetDesiredCapacity")(e)),
            }
        })
    }
}
