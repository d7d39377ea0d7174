//! The reference executor: every op's plain-loop CPU reference ([`Op::reference`]), every
//! tensor in its own vector. It is the ground truth the GPU is tested against, not a fast
//! backend (a forward pass of the default model takes seconds).

use super::{
    check_forward_input, check_len, check_samplable, step_coeffs, Executor, Pending, View,
};
use crate::error::Error;
use crate::model::{Graph, UNet};
use crate::ops::ToRgba8;
use crate::scheduler::Plan;
use std::cell::RefCell;

/// One UNet evaluation: `x` is (N, C, H, W) for the graph's batch, `t` the timestep.
pub fn forward(unet: &UNet, graph: &Graph, x: &[f32], t: f32) -> Result<Vec<f32>, Error> {
    check_forward_input(graph, x, t)?;
    let mut values: Vec<Vec<f32>> = graph.tensors.iter().map(|_| Vec::new()).collect();
    values[graph.input.0] = x.to_vec();
    values[graph.time_input.0] = unet.timestep_features(t, graph.batch);
    for node in &graph.nodes {
        let mut out = vec![0f32; graph.len(node.output)];
        let inputs: Vec<&[f32]> = node.inputs.iter().map(|t| values[t.0].as_slice()).collect();
        let params: Vec<&[f32]> = node
            .params
            .iter()
            .map(|p| unet.params[p.0].data.as_slice())
            .collect();
        node.op.reference(&inputs, &params, &mut out);
        values[node.output.0] = out;
    }
    Ok(std::mem::take(&mut values[graph.output.0]))
}

/// x and the predicted x_0 of a run.
struct State {
    x: Vec<f32>,
    x0: Vec<f32>,
}

/// Sampling on the CPU references.
pub struct ReferenceExecutor {
    graph: Graph,
    grid: ToRgba8,
    state: RefCell<State>,
}

impl ReferenceExecutor {
    pub fn new(unet: &UNet, batch: usize) -> Result<ReferenceExecutor, Error> {
        let graph = unet.graph(batch)?;
        check_samplable(&graph, unet)?;
        let s = graph.shape(graph.input);
        let grid = ToRgba8::new([s[0], s[1], s[2], s[3]])
            .map_err(|e| crate::model::ModelError::at("sampler", e))?;
        let len = graph.len(graph.input);
        Ok(ReferenceExecutor {
            graph,
            grid,
            state: RefCell::new(State {
                x: vec![0.0; len],
                x0: vec![0.0; len],
            }),
        })
    }

    fn view(&self, view: View) -> Vec<f32> {
        let state = self.state.borrow();
        match view {
            View::Sample => state.x.clone(),
            View::PredictedX0 => state.x0.clone(),
        }
    }
}

impl Executor for ReferenceExecutor {
    fn describe(&self) -> String {
        "CPU reference".to_string()
    }

    fn graph(&self) -> &Graph {
        &self.graph
    }

    fn set_sample(&self, x: &[f32]) -> Result<(), Error> {
        check_len(&self.graph, "x_T", x)?;
        let mut state = self.state.borrow_mut();
        state.x.copy_from_slice(x);
        state.x0.copy_from_slice(x);
        Ok(())
    }

    fn step(&self, unet: &UNet, plan: &Plan, index: usize, seed: u64) -> Result<(), Error> {
        let coeffs = step_coeffs(plan, index)?;
        let x = self.view(View::Sample);
        let eps = forward(unet, &self.graph, &x, plan.timesteps[index] as f32)?;
        let noise = if coeffs.needs_noise() {
            crate::rng::step_noise(seed, index, self.batch(), x.len() / self.batch())
        } else {
            Vec::new()
        };
        let mut state = self.state.borrow_mut();
        let State { x: prev, x0 } = &mut *state;
        coeffs.apply(&x, &eps, &noise, prev, x0);
        Ok(())
    }

    fn finish(&self) -> Result<(), Error> {
        Ok(())
    }

    fn read(&self, view: View) -> Pending<'_, Vec<f32>> {
        let values = self.view(view);
        Box::pin(async move { Ok(values) })
    }

    fn read_rgba(&self, view: View) -> Pending<'_, Vec<u8>> {
        let mut words = vec![0u32; self.grid.output_len()];
        self.grid.cpu(&self.view(view), &mut words);
        Box::pin(async move { Ok(bytemuck::cast_slice(&words).to_vec()) })
    }
}
