//! The reverse process as a loop over any [`Executor`]: x_T from the seeded generator (or a
//! given one), then one executor step per planned timestep. Callers that show progress (the
//! page, the CLI) drive [`Executor::step`] themselves; this loop is for whole runs.

use crate::error::Error;
use crate::exec::{Executor, View};
use crate::model::UNet;
use crate::scheduler::Plan;

/// Per step of a run: (x_{t-1}, predicted x_0).
pub type Trajectory = Vec<(Vec<f32>, Vec<f32>)>;

/// Runs all of `plan` from `x_t` (x_T), reading x and x_0 back after every step when
/// `trajectory` is set. Returns the final sample and the trajectory (empty when not asked).
pub async fn run(
    exec: &dyn Executor,
    unet: &UNet,
    plan: &Plan,
    x_t: &[f32],
    seed: u64,
    trajectory: bool,
) -> Result<(Vec<f32>, Trajectory), Error> {
    exec.set_sample(x_t)?;
    let mut steps = Vec::new();
    for index in 0..plan.timesteps.len() {
        exec.step(unet, plan, index, seed)?;
        if trajectory {
            steps.push((
                exec.read(View::Sample).await?,
                exec.read(View::PredictedX0).await?,
            ));
        }
    }
    Ok((exec.read(View::Sample).await?, steps))
}
